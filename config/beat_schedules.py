"""Periodic tasks written by data migrations into django-celery-beat's tables, so staff can
edit them in the admin: one crontab (UTC) and ``expire_seconds`` each, so that a backlog left
while beat or the workers were down is dropped instead of piling up.

Used with the migration's historical ``apps``: it must keep working for every migration that
calls it, so it only reads the django-celery-beat models by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import migrations
from django.utils import timezone


def schedules_operation(schedules: list[dict[str, Any]]) -> migrations.RunPython:
    """The data migration that writes ``schedules`` (``schedule_tasks``) and, reversed, removes
    them: what each app's schedule migration runs."""
    return migrations.RunPython(
        lambda apps, _schema_editor: schedule_tasks(apps, schedules),
        lambda apps, _schema_editor: unschedule_tasks(apps, [spec["name"] for spec in schedules]),
    )


def schedule_tasks(apps: Any, schedules: Iterable[dict[str, Any]]) -> None:
    """Create or update one periodic task per ``{"name", "task", "minute", "expire_seconds"}``
    (and ``"hour"``, default every hour), enabled, without arguments."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for spec in schedules:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=spec["minute"],
            hour=spec.get("hour", "*"),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        PeriodicTask.objects.update_or_create(
            name=spec["name"],
            defaults={
                "task": spec["task"],
                "crontab": crontab,
                "kwargs": json.dumps({}),
                "expire_seconds": spec["expire_seconds"],
                "enabled": True,
            },
        )
    # The database scheduler reloads its schedule when this timestamp changes (historical
    # models do not send the signal that normally moves it).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def unschedule_tasks(apps: Any, names: Iterable[str]) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=list(names)).delete()
