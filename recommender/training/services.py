"""Training services: trigger a run, execute it once, train and version models, reconcile.

``start_training`` records a queued run and enqueues it; ``run_training`` (what the Celery task
calls) executes it under the per-algorithm lock, idempotently by run id, through the pipeline
(``pipeline.train_models``); ``reconcile_stale_runs`` recovers runs whose worker died.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from recommender.core import ALGORITHMS
from recommender.models import TrainingRun
from recommender.training.algorithm_fits import describe_failure
from recommender.training.dataset import TrainingDataError
from recommender.training.leftovers import sweep_unrecorded_artifacts
from recommender.training.locking import (
    algorithm_locks,
    algorithms_locked_elsewhere,
    serialize_triggers,
    uses_advisory_locks,
)
from recommender.training.pipeline import train_models
from recommender.training.progress import ProgressCallback, RunProgress, heartbeat
from recommender.training.queue import enqueue_run

logger = logging.getLogger(__name__)


class TrainingAlreadyRunning(Exception):
    """A queued or running run already covers some of the requested algorithms."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"Training run #{run_id} is already queued or running for these models.")


class BrokerUnavailable(Exception):
    """The run was recorded but could not be handed to the task queue."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        super().__init__(run.error)


class UnknownAlgorithm(ValueError):
    """An algorithm name that is not registered in ``recommender.core.ALGORITHMS``, or one that
    cannot be trained on its own (a composite such as ``blend``)."""


def trainable_algorithms() -> list[str]:
    """Registered algorithms a run can fit from the interaction matrix and their params alone."""
    return sorted(name for name, cls in ALGORITHMS.items() if not cls.composite)


def resolve_algorithms(algorithms: list[str] | None) -> list[str]:
    """The requested algorithms, deduplicated in order, or the configured defaults.

    Unknown or composite requested names raise ``UnknownAlgorithm``; defaults that this
    deployment does not register are skipped with a warning, so a settings list written ahead
    of the code still runs.
    """
    trainable = trainable_algorithms()
    if algorithms:
        names = list(dict.fromkeys(algorithms))
        composite = [name for name in names if name in ALGORITHMS and name not in trainable]
        unknown = [name for name in names if name not in ALGORITHMS]
        if composite or unknown:
            problems = [f"Unknown algorithm(s): {', '.join(unknown)}."] if unknown else []
            if composite:
                problems.append(
                    f"Not trainable on its own (combines trained models): {', '.join(composite)}."
                )
            raise UnknownAlgorithm(" ".join([*problems, f"Choose from: {', '.join(trainable)}."]))
        return names
    names = [name for name in settings.SHELFWISE_TRAINING_ALGORITHMS if name in trainable]
    missing = set(settings.SHELFWISE_TRAINING_ALGORITHMS) - set(names)
    if missing:
        logger.warning("configured algorithms not trainable here, skipped: %s", sorted(missing))
    if not names:
        raise UnknownAlgorithm("None of SHELFWISE_TRAINING_ALGORITHMS is registered.")
    return names


def start_training(
    *,
    triggered_by: str,
    algorithms: list[str] | None = None,
    params: dict[str, dict] | None = None,
    user: AbstractBaseUser | None = None,
    enqueue: bool = True,
    tuning_budget_seconds: float | None = None,
) -> TrainingRun:
    """Record a queued run and hand it to the ``train`` queue after commit.

    Raises ``TrainingAlreadyRunning`` (with that run's id) instead of creating a second run for
    any algorithm already queued or running, and ``BrokerUnavailable`` when the broker refused
    the task (the run is then kept as ``not_queued`` with the reason).
    """
    names = resolve_algorithms(algorithms)
    effective = {
        name: {**settings.SHELFWISE_ALGORITHM_PARAMS.get(name, {}), **(params or {}).get(name, {})}
        for name in names
    }
    with transaction.atomic():
        serialize_triggers()
        for active in TrainingRun.objects.active().only(
            "id", "algorithms", "status", "heartbeat_at"
        ):
            if not set(active.algorithms) & set(names):
                continue
            if not _lost_its_worker(active):
                raise TrainingAlreadyRunning(active.pk)
            # Its process died (a crash, an OOM kill): waiting for the reconciler would block
            # every retrain until it runs, and `train --inline` has none.
            TrainingRun.objects.filter(pk=active.pk, status=TrainingRun.Status.RUNNING).update(
                status=TrainingRun.Status.FAILED,
                stage="failed",
                finished_at=timezone.now(),
                error="Worker lost (its process died mid-run); superseded by a new trigger.",
            )
        run = TrainingRun.objects.create(
            algorithms=names,
            params=effective,
            lock_key=",".join(sorted(names)),
            triggered_by=triggered_by,
            requested_by=user if user is not None and user.is_authenticated else None,
            stage="queued",
            # "Last sign of life" of a queued run is when it was queued: the reconciler
            # expires runs no worker ever picked up (see reconcile_stale_runs).
            heartbeat_at=timezone.now(),
            # Parameters the caller chose are kept as they are: tuning leaves them alone.
            stats={
                "pinned": sorted(name for name in (params or {}) if name in names),
                "tuning_budget_seconds": settings.SHELFWISE_TUNING_BUDGET_SECONDS
                if tuning_budget_seconds is None
                else float(tuning_budget_seconds),
            },
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_run(run_id=run.pk))
    run.refresh_from_db()
    if run.status == TrainingRun.Status.NOT_QUEUED:
        raise BrokerUnavailable(run)
    return run


def run_training(*, run_id: int, on_progress: ProgressCallback | None = None) -> TrainingRun:
    """Execute run ``run_id`` at most once to completion.

    A finished run is left alone (a redelivered task does nothing); a run whose algorithms are
    locked by a live worker is not started twice; any exception ends the run ``failed`` with the
    error recorded, and no champion changes unless the whole run succeeded.
    """
    run = TrainingRun.objects.get(pk=run_id)
    if run.is_finished:
        logger.info("training run %s already %s; nothing to do", run_id, run.status)
        return run
    with algorithm_locks(run.algorithms) as acquired:
        if not acquired:
            return _locked_elsewhere(run)
        if not uses_advisory_locks() and _alive_without_lock(run):
            return run
        run = _start_attempt(run)
        if run.status != TrainingRun.Status.RUNNING:
            return run
        progress = RunProgress(run.pk, on_progress=on_progress)
        try:
            with heartbeat(run.pk, interval=settings.SHELFWISE_HEARTBEAT_SECONDS):
                train_models(run=run, progress=progress)
        except BaseException as exc:
            # BaseException: a soft time limit or a worker shutdown must still be recorded.
            _finish_failed(run.pk, error=describe_failure(exc))
            if isinstance(exc, TrainingDataError):
                # The data, not the code: the message is the whole story, a traceback is noise.
                logger.warning("training run %s failed: %s", run_id, exc)
            else:
                logger.exception("training run %s failed", run_id)
            if not isinstance(exc, Exception):
                raise
    run.refresh_from_db()
    return run


def _locked_elsewhere(run: TrainingRun) -> TrainingRun:
    if run.status == TrainingRun.Status.RUNNING:
        # Our own earlier delivery is still training it (e.g. a broker redelivery): leave it.
        logger.info("training run %s is being trained by another live worker", run.pk)
        return run
    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exclude(pk=run.pk)
    holder = next((r for r in running if set(r.algorithms) & set(run.algorithms)), None)
    holder_text = f"run #{holder.pk}" if holder else "another run"
    _finish_failed(
        run.pk,
        error=f"Not started: {holder_text} was already training {', '.join(run.algorithms)}.",
    )
    run.refresh_from_db()
    return run


def _lost_its_worker(run: TrainingRun) -> bool:
    """A running run whose process is gone: no live session holds its locks (PostgreSQL), or
    its heartbeat is stale (SQLite). Queued runs are waiting, not lost."""
    if run.status != TrainingRun.Status.RUNNING:
        return False
    if uses_advisory_locks():
        return not algorithms_locked_elsewhere(run.algorithms)
    return not _alive_without_lock(run)


def _alive_without_lock(run: TrainingRun) -> bool:
    """SQLite has no advisory locks: trust a fresh heartbeat as "its worker is alive"."""
    if run.status != TrainingRun.Status.RUNNING or run.heartbeat_at is None:
        return False
    timeout = timedelta(seconds=settings.SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS)
    return run.heartbeat_at > timezone.now() - timeout


def _start_attempt(run: TrainingRun) -> TrainingRun:
    """Mark the run running for a new attempt (we hold its locks), or give up after too many."""
    now = timezone.now()
    try:
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if run.is_finished:
                return run
            log = list(run.stats.get("attempt_log", []))
            if run.status == TrainingRun.Status.RUNNING:
                # We hold the locks, so the worker that marked it running is gone.
                log.append(f"attempt {run.attempts}: worker lost, taken over at {now:%H:%M:%S}")
            if run.attempts >= settings.SHELFWISE_TRAINING_MAX_ATTEMPTS:
                return _give_up(run, log=log, now=now)
            # With the advisory locks held, any other row still "running" for these algorithms
            # lost its worker (its lock died with it): fail it so the one-running constraint
            # admits this run. Without them (SQLite) the constraint decides, below.
            others = TrainingRun.objects.select_for_update().filter(
                status=TrainingRun.Status.RUNNING, lock_key=run.lock_key
            )
            for stale in others.exclude(pk=run.pk) if uses_advisory_locks() else []:
                stale.status, stale.finished_at = TrainingRun.Status.FAILED, now
                stale.error = f"Worker lost; superseded by run #{run.pk}."
                stale.save(update_fields=["status", "finished_at", "error"])
            run.status = TrainingRun.Status.RUNNING
            run.attempts += 1
            run.started_at = run.started_at or now
            run.heartbeat_at = now
            run.progress, run.stage = 0, f"starting (attempt {run.attempts})"
            run.stats = {**run.stats, "attempt_log": log}
            run.save()
            return run
    except IntegrityError:
        # SQLite only (PostgreSQL serialised us on the advisory lock): another row is running.
        _finish_failed(run.pk, error="Not started: another run was already training these models.")
        run.refresh_from_db()
        return run


def _give_up(run: TrainingRun, *, log: list[str], now: datetime) -> TrainingRun:
    run.status, run.finished_at = TrainingRun.Status.FAILED, now
    run.error = f"Gave up after {run.attempts} attempts: " + "; ".join(log[-3:])
    run.stats = {**run.stats, "attempt_log": log}
    run.save()
    return run


def _finish_failed(run_id: int, *, error: str) -> None:
    # The failure may be the connection itself (a killed backend, a failover): write it on a new
    # one, or the run stays "running" until the reconciler notices its silence.
    if not connection.in_atomic_block and not connection.is_usable():
        connection.close()
    TrainingRun.objects.filter(pk=run_id).exclude(status__in=TrainingRun.FINISHED).update(
        status=TrainingRun.Status.FAILED,
        error=error[:10_000],
        stage="failed",
        finished_at=timezone.now(),
    )


def reconcile_stale_runs(*, now: datetime, heartbeat_timeout: timedelta | None = None) -> dict:
    """Recover running runs whose heartbeat went stale: re-queue the same run while it has
    attempts left, otherwise fail it. A run whose lock is still held has a live (if silent)
    worker and is left to its time limit. Queued runs no worker picked up within
    SHELFWISE_QUEUED_TIMEOUT_SECONDS are failed, so a lost message cannot block every later
    trigger. Returns {"requeued": [...], "failed": [...], "expired": [...]}."""
    timeout = heartbeat_timeout or timedelta(seconds=settings.SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS)
    outcome: dict[str, list[int]] = {"requeued": [], "failed": [], "expired": []}
    outcome["expired"] = _expire_unclaimed(now=now)
    for stale in TrainingRun.objects.stale(now=now, heartbeat_timeout=timeout):
        if uses_advisory_locks() and algorithms_locked_elsewhere(stale.algorithms):
            continue
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=stale.pk)
            if run.status != TrainingRun.Status.RUNNING or run.heartbeat_at >= now - timeout:
                continue
            # Its worker is gone and the run is not re-queued yet: what it wrote can go.
            sweep_unrecorded_artifacts(run_id=run.pk)
            run.refresh_from_db(fields=["stats"])
            note = (
                f"attempt {run.attempts}: worker lost (no heartbeat since "
                f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC, stage {run.stage!r})"
            )
            log = [*run.stats.get("attempt_log", []), note]
            run.stats = {**run.stats, "attempt_log": log}
            if run.attempts < settings.SHELFWISE_TRAINING_MAX_ATTEMPTS:
                run.status, run.progress = TrainingRun.Status.QUEUED, 0
                run.stage, run.error = "re-queued after a lost worker", note
                run.heartbeat_at = now
                run.save()
                transaction.on_commit(lambda run_id=run.pk: enqueue_run(run_id=run_id))
                outcome["requeued"].append(run.pk)
            else:
                run.status, run.finished_at = TrainingRun.Status.FAILED, now
                run.stage = "failed"
                run.error = f"Gave up after {run.attempts} attempts; last: {note}"
                run.save()
                outcome["failed"].append(run.pk)
    return outcome


def _expire_unclaimed(*, now: datetime) -> list[int]:
    limit = timedelta(seconds=settings.SHELFWISE_QUEUED_TIMEOUT_SECONDS)
    unclaimed = TrainingRun.objects.filter(
        status=TrainingRun.Status.QUEUED, heartbeat_at__lt=now - limit
    )
    expired = list(unclaimed.values_list("pk", flat=True))
    unclaimed.filter(pk__in=expired).update(
        status=TrainingRun.Status.FAILED,
        stage="failed",
        finished_at=now,
        error=(
            f"No worker picked this run up within {limit}; is a worker consuming the "
            "'train' queue? Trigger a new run once it is."
        ),
    )
    return expired
