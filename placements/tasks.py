"""Celery tasks of placements: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from placements.whatif_runs import execute_whatif, fail_stopped_whatifs


@shared_task(
    name="placements.tasks.whatif_task",
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_HARD_TIME_LIMIT,
)
def whatif_task(run_id: int) -> str:
    """Replay what-if run ``run_id``; returns its final status."""
    return execute_whatif(run_id=run_id).status


@shared_task(name="placements.tasks.fail_stopped_whatifs_task")
def fail_stopped_whatifs_task() -> list[int]:
    """Fail the what-ifs whose worker stopped (or that no worker picked up); returns their ids."""
    return fail_stopped_whatifs(now=timezone.now())  # each one is logged there
