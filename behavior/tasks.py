"""Behaviour's periodic work: keeping the daily event summaries current."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from behavior.summaries import refresh_event_summaries


@shared_task(
    name="behavior.tasks.refresh_event_summaries_task", soft_time_limit=240, time_limit=270
)
def refresh_event_summaries_task() -> int:
    """Rewrite the summaries of the days whose events changed (today and yesterday at least);
    returns how many days. Safe to run twice at once: refreshes take turns on a row lock."""
    return refresh_event_summaries(now=timezone.now()).days
