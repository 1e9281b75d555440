"""What-if runs from the dashboard: a row records the request, its progress while a Celery task
replays it (``whatif_task``, eager in the embedded default) and the comparison once done."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from placements.models import Placement, WhatIfRun
from placements.whatif import WhatIfError, run_whatif, traffic_window, whatif_rules

logger = logging.getLogger(__name__)


def start_whatif(
    *,
    placement: Placement,
    days: int,
    rule_ids: list[int] | None = None,
    user: AbstractBaseUser | None = None,
) -> WhatIfRun:
    """Check the request and queue a run after commit. Raises ``WhatIfError`` (nothing stored)
    for days out of range, no draft to try or no traffic; a broker that refuses the task ends
    the run ``failed`` with the reason."""
    now = timezone.now()
    whatif_rules(placement=placement, rule_ids=rule_ids, now=now)
    traffic_window(days=days, now=now)
    run = WhatIfRun.objects.create(
        placement=placement,
        days=days,
        rule_ids=list(rule_ids or []),
        requested_by=user if user is not None and user.is_authenticated else None,
        stage="queued",
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
    """Replay run ``run_id`` once: progress on its row as it goes, then the comparison or the
    error. A finished run is left alone (a redelivered task does nothing)."""
    run = WhatIfRun.objects.select_related("placement").get(pk=run_id)
    if run.is_finished:
        return run
    WhatIfRun.objects.filter(pk=run_id).update(status=WhatIfRun.Status.RUNNING, stage="starting")

    def progress(percent: float, stage: str) -> None:
        WhatIfRun.objects.filter(pk=run_id).update(progress=int(percent), stage=stage[:200])

    try:
        report = run_whatif(
            placement=run.placement,
            now=timezone.now(),
            days=run.days,
            rule_ids=run.rule_ids or None,
            progress=progress,
        )
    except WhatIfError as exc:
        _finish(run_id, error=str(exc))
    except Exception as exc:  # recorded on the row for the page; the log keeps the traceback
        logger.exception("what-if run %s failed", run_id)
        _finish(run_id, error=f"{type(exc).__name__}: {exc}"[:2000])
    else:
        WhatIfRun.objects.filter(pk=run_id).update(
            status=WhatIfRun.Status.SUCCEEDED,
            progress=100,
            stage="done",
            result=report.as_dict(),
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


def _finish(run_id: int, *, error: str) -> None:
    WhatIfRun.objects.filter(pk=run_id).update(
        status=WhatIfRun.Status.FAILED, stage="failed", error=error, finished_at=timezone.now()
    )
