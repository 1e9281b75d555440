"""What-if runs from the dashboard: a row records the request, its progress while a Celery task
replays it (``whatif_task``, eager in the embedded default) and the comparison once done.

A worker that dies mid-replay (a SIGKILL, an out-of-memory kill, a lost machine) must not leave
the run "running" for ever. The replay holds a session-level advisory lock on its run and beats
``heartbeat_at`` from a thread, as training does (``recommender.training.locking`` and
``.progress``). A running what-if whose lock no live session holds (PostgreSQL drops a dead
worker's locks with its connection) or whose heartbeat is older than
SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS has lost its worker: ``fail_stopped_whatifs`` ends it
``failed`` with that cause. The placement page asks on every load and poll, a new what-if asks
before it starts, and beat asks every 5 minutes. Unlike a training run it is not re-queued: the
merchandiser watching it decides whether to run it again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from placements.models import Placement, WhatIfRun
from placements.whatif import WhatIfError, run_whatif, traffic_window, whatif_rules
from recommender.training.locking import locked_elsewhere, session_locks, uses_advisory_locks
from recommender.training.progress import heartbeat

logger = logging.getLogger(__name__)

# The first int of a what-if's advisory lock: training's locks use 0x5357 ("SW").
WHATIF_NAMESPACE = 0x5358


def start_whatif(
    *,
    placement: Placement,
    days: int,
    rule_ids: list[int] | None = None,
    user: AbstractBaseUser | None = None,
) -> WhatIfRun:
    """Check the request and queue a run after commit. Raises ``WhatIfError`` (nothing stored)
    for days out of range, no draft to try or no traffic; a broker that refuses the task ends
    the run ``failed`` with the reason. A what-if of this placement whose worker stopped is
    failed first, so it never stands in the page's way."""
    now = timezone.now()
    whatif_rules(placement=placement, rule_ids=rule_ids, now=now)
    traffic_window(days=days, now=now)
    fail_stopped_whatifs(now=now, placement=placement)
    run = WhatIfRun.objects.create(
        placement=placement,
        days=days,
        rule_ids=list(rule_ids or []),
        requested_by=user if user is not None and user.is_authenticated else None,
        stage="queued",
        heartbeat_at=now,  # a queued run's last sign of life is when it was queued
    )
    transaction.on_commit(lambda: _send(run.pk))
    return run


def _send(run_id: int) -> None:
    from kombu.exceptions import OperationalError

    from placements.tasks import whatif_task  # the task module imports this one

    try:
        whatif_task.apply_async(args=[run_id], retry=False)
    except OperationalError as exc:
        logger.error("could not enqueue what-if run %s: %s", run_id, exc)
        _finish(run_id, error=f"The task queue is unreachable ({exc}); try again when it is back.")


def execute_whatif(*, run_id: int) -> WhatIfRun:
    """Replay run ``run_id`` once: progress and a heartbeat on its row as it goes, then the
    comparison or the error. A finished run is left alone (a redelivered task does nothing), and
    so is one another live worker is replaying."""
    run = WhatIfRun.objects.select_related("placement").get(pk=run_id)
    if run.is_finished:
        return run
    with session_locks([str(run_id)], namespace=WHATIF_NAMESPACE) as acquired:
        if not acquired or (not uses_advisory_locks() and _alive_without_lock(run)):
            logger.info("what-if run %s is being replayed by another live worker", run_id)
            return run
        # Marked running only with the lock held: running without it means its worker is gone.
        started = _unfinished(run_id).update(
            status=WhatIfRun.Status.RUNNING, stage="starting", heartbeat_at=timezone.now()
        )
        if started:
            with heartbeat(run_id, interval=settings.SHELFWISE_HEARTBEAT_SECONDS, model=WhatIfRun):
                _replay(run)
    run.refresh_from_db()
    return run


def _replay(run: WhatIfRun) -> None:
    def progress(percent: float, stage: str) -> None:
        _unfinished(run.pk).update(
            progress=int(percent), stage=stage[:200], heartbeat_at=timezone.now()
        )

    try:
        report = run_whatif(
            placement=run.placement,
            now=timezone.now(),
            days=run.days,
            rule_ids=run.rule_ids or None,
            progress=progress,
        )
    except WhatIfError as exc:
        _finish(run.pk, error=str(exc))
    except Exception as exc:  # recorded on the row for the page; the log keeps the traceback
        logger.exception("what-if run %s failed", run.pk)
        _finish(run.pk, error=f"{type(exc).__name__}: {exc}"[:2000])
    except BaseException as exc:  # the worker shutting down mid-replay: say so, then let it go
        _finish(
            run.pk,
            error=f"Its worker stopped ({type(exc).__name__} mid-replay); start a new what-if.",
        )
        raise
    else:
        _unfinished(run.pk).update(
            status=WhatIfRun.Status.SUCCEEDED,
            progress=100,
            stage="done",
            result=report.as_dict(),
            finished_at=timezone.now(),
        )


def fail_stopped_whatifs(*, now: datetime, placement: Placement | None = None) -> list[int]:
    """End ``failed`` every running what-if (of ``placement``, or all) whose worker stopped: its
    lock is free (the process is gone) or its heartbeat is older than the timeout; and every
    queued one no worker picked up within SHELFWISE_QUEUED_TIMEOUT_SECONDS. Returns their ids."""
    runs = WhatIfRun.objects.filter(status__in=[WhatIfRun.Status.QUEUED, WhatIfRun.Status.RUNNING])
    if placement is not None:
        runs = runs.filter(placement=placement)
    failed = []
    for run in runs.only("status", "stage", "heartbeat_at", "created_at"):
        cause = _stopped_cause(run, now=now)
        if cause is not None and _finish(run.pk, error=cause, status=run.status):
            logger.warning("what-if run %s failed: %s", run.pk, cause)
            failed.append(run.pk)
    return failed


def _stopped_cause(run: WhatIfRun, *, now: datetime) -> str | None:
    """Why ``run`` has no worker any more, or None while one may still be on it."""
    seen = run.heartbeat_at or run.created_at
    since = f"{seen:%Y-%m-%d %H:%M:%S} UTC"
    if run.status == WhatIfRun.Status.QUEUED:
        limit = timedelta(seconds=settings.SHELFWISE_QUEUED_TIMEOUT_SECONDS)
        if seen >= now - limit:
            return None
        return (
            f"No worker picked it up within {limit} (queued {since}); is a worker consuming the "
            "'train' queue? Start a new what-if once it is."
        )
    if not _beating(run, now=now):
        why = f"no sign of life since {since}"
    elif uses_advisory_locks() and not locked_elsewhere([str(run.pk)], namespace=WHATIF_NAMESPACE):
        why = f"its process is gone; last sign of life {since}"
    else:
        return None
    stage = f", while {run.stage}" if run.stage else ""
    return f"Its worker stopped ({why}{stage}). Start a new what-if to replay it again."


def _alive_without_lock(run: WhatIfRun) -> bool:
    """SQLite has no advisory locks: a running run's fresh heartbeat says its worker lives."""
    return run.status == WhatIfRun.Status.RUNNING and _beating(run, now=timezone.now())


def _beating(run: WhatIfRun, *, now: datetime) -> bool:
    timeout = timedelta(seconds=settings.SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS)
    return run.heartbeat_at is not None and run.heartbeat_at > now - timeout


def _unfinished(run_id: int):
    # Every write of a replay goes through this: a run already failed as stopped stays failed.
    return WhatIfRun.objects.filter(pk=run_id).exclude(
        status__in=[WhatIfRun.Status.SUCCEEDED, WhatIfRun.Status.FAILED]
    )


def _finish(run_id: int, *, error: str, status: str | None = None) -> int:
    rows = _unfinished(run_id)
    if status is not None:  # only if nobody moved it on meanwhile
        rows = rows.filter(status=status)
    return rows.update(
        status=WhatIfRun.Status.FAILED, stage="failed", error=error, finished_at=timezone.now()
    )
