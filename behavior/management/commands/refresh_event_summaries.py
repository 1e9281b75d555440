"""manage.py refresh_event_summaries [--rebuild]: bring the daily event summaries and the stored
trending lists up to date."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from django.utils import timezone
from tqdm import tqdm

from behavior.summaries import refresh_event_summaries
from behavior.trending_lists import refresh_trending_lists


class Command(BaseCommand):
    help = (
        "Rewrite the daily event summaries of the days whose events changed since the last "
        "refresh, and rank the stored trending lists again (beat does both every 5 minutes); "
        "--rebuild rewrites every day, after a bulk import or a deletion."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rebuild", action="store_true", help="Rewrite every day.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, rebuild: bool, no_progress: bool, **options) -> None:
        def progress(days):
            return tqdm(days, desc="days", unit="day", file=sys.stderr, disable=no_progress)

        now = timezone.now()
        done = refresh_event_summaries(now=now, rebuild=rebuild, progress=progress)
        lists = refresh_trending_lists(now=now)
        self.stdout.write(
            f"Summarised {done.days:,} days; events through id {done.summarised_through:,}; "
            f"ranked {lists:,} trending lists."
        )
