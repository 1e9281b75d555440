"""Exit non-zero when beat sent no periodic task lately (the beat container's healthcheck)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from config.health import beat_age


class Command(BaseCommand):
    help = "Fail when beat's newest periodic task is older than SHELFWISE_BEAT_MAX_AGE_SECONDS."

    def handle(self, *args, **options) -> None:
        age = beat_age(now=timezone.now())
        limit = settings.SHELFWISE_BEAT_MAX_AGE_SECONDS
        if age is None:
            raise CommandError("Beat has never sent a periodic task.")
        if age.total_seconds() > limit:
            seconds = int(age.total_seconds())
            raise CommandError(f"Beat last sent a periodic task {seconds} s ago (limit {limit} s).")
        self.stdout.write(f"Beat sent a periodic task {int(age.total_seconds())} s ago.")
