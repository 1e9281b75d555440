"""The training pipeline: events in, versioned and evaluated models out (see ``services``).

How a run goes, and why
-----------------------
1. ``start_training`` records a ``queued`` TrainingRun (refusing with ``TrainingAlreadyRunning``
   when a queued/running run shares an algorithm; concurrent triggers are serialised by a
   transaction-level advisory lock) and enqueues ``train_models_task`` after commit. A broker
   error marks the run ``not_queued`` with the reason (the API answers 503).
2. ``run_training`` (the task body) does nothing for a finished run, takes a session-level
   ``pg_try_advisory_lock`` per algorithm (released by PostgreSQL when the holder dies), marks
   the run ``running`` (a new attempt) and beats ``heartbeat_at`` from a thread while it trains.
3. ``train_models``: events of the window (anchored on the newest event, not the clock, so
   historical data trains) → the last ``SHELFWISE_HOLDOUT_FRACTION`` of time held out → weighted,
   time-decayed train matrix (``trending`` gets its own shorter half-life) → fit each algorithm
   → NDCG@10/recall/MAP/coverage on the holdout → the serving champion scored on the *same*
   holdout through its own item index → artifacts written (``recommender.artifacts``) → one
   transaction creates every version, promotes those within tolerance and marks the run
   succeeded. The content model is fitted on the whole active catalog (``training.content``),
   not on the matrix's items, and is always promoted: it is a feature index for search and
   cold products, not a ranking competitor (``champion.decide_feature_index``). Any failure
   before that commit leaves no version and no champion change.

The served artifact is the model fitted on the training part, not refitted on all data. A
refit would serve the freshest item structure, but then neither the number recorded for the
version nor the comparison with the champion would describe the artifact that serves: the
champion, refitted on its own full data, would have seen most of the next run's holdout and win
every comparison. Fitted on data before the cut, the champion and the candidate are compared on
events neither has seen. The cost: the newest 10 % of time is not in the item structure until
the next run (serving still folds each shopper's latest events in at request time); refitting
would roughly double fit time (measured by ``bench/retrain.py``).

When a worker dies mid-run (observed with a real worker, tests/recommender/test_tasks*.py)
---------------------------------------------------------------------------------------------
- Pool child SIGKILLed: the worker's main process logs ``WorkerLostError`` within seconds;
  ``acks_late`` + ``reject_on_worker_lost`` put the message back; the next pool child receives
  it, finds the run ``running`` but takes the advisory lock (the dead child's connection is
  gone), logs "attempt 1: worker lost" and trains attempt 2 to success. No reconciler needed.
- Whole worker SIGKILLed: the message stays in Redis' ``unacked`` set until the visibility
  timeout (an hour); the run stays ``running`` with a silent heartbeat and the champion is
  untouched. The reconciler (every 5 minutes) sees the stale heartbeat, checks the lock is free,
  re-queues the same run (attempts < 3, else fails it); the next worker trains it to success.
  When the visibility timeout later restores the original message, the run is finished and the
  task does nothing.
"""
