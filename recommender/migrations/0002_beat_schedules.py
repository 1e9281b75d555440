"""The periodic schedules, stored in django-celery-beat so merchandisers can edit them in admin.

Crontab rather than intervals (a restart does not shift them), and each has ``expire_seconds``
so that when beat or the workers were down the backlog is dropped instead of piling up.
"""

import json

from django.db import migrations

SCHEDULES = [
    {
        # Nightly full retrain at 02:30 UTC: the quietest hour for European shops, after the
        # day's events are in, and the result serves the whole next day. A whole night's
        # retrain that could not start within an hour is skipped: the next night retrains anyway.
        "name": "Nightly full retrain",
        "task": "recommender.tasks.nightly_retrain_task",
        "crontab": {"minute": "30", "hour": "2"},
        "expire_seconds": 60 * 60,
    },
    {
        # Trending moves within hours (a promotion, a viral product) while the full models learn
        # slow item structure; refreshing only the cheap popularity model hourly keeps "trending"
        # fresh without paying for a full retrain.
        "name": "Hourly trending refresh",
        "task": "recommender.tasks.refresh_trending_task",
        "crontab": {"minute": "7", "hour": "*"},
        "expire_seconds": 30 * 60,
    },
    {
        # Every 5 minutes: a dead worker's run is noticed within the heartbeat timeout plus
        # 5 minutes, well before the broker's visibility timeout (an hour) would redeliver it.
        "name": "Reconcile stale training runs",
        "task": "recommender.tasks.reconcile_stale_runs_task",
        "crontab": {"minute": "*/5", "hour": "*"},
        "expire_seconds": 4 * 60,
    },
]


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for spec in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=spec["crontab"]["minute"],
            hour=spec["crontab"]["hour"],
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
    # The database scheduler reloads its schedule when this timestamp changes (historical models
    # do not send the signal that normally bumps it).
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[spec["name"] for spec in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
