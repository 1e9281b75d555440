"""Behaviour's periodic work: keeping the daily event summaries and trending lists current."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from behavior.summaries import refresh_event_summaries
from behavior.trending_lists import refresh_trending_lists


@shared_task(
    name="behavior.tasks.refresh_event_summaries_task", soft_time_limit=240, time_limit=270
)
def refresh_event_summaries_task() -> int:
    """Rewrite the summaries of the days whose events changed (today and yesterday at least)
    and rank the trending lists again; returns how many days. Safe to run twice at once:
    summary refreshes take turns on a row lock, and each trending refresh replaces every list."""
    now = timezone.now()
    days = refresh_event_summaries(now=now).days
    refresh_trending_lists(now=now)
    return days
