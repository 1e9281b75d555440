"""Celery tasks of placements: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from placements.whatif_runs import execute_whatif


@shared_task(
    name="placements.tasks.whatif_task",
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_HARD_TIME_LIMIT,
)
def whatif_task(run_id: int) -> str:
    """Replay what-if run ``run_id``; returns its final status."""
    return execute_whatif(run_id=run_id).status
