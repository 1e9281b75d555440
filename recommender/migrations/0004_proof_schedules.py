"""The proof schedules: the impressions drain every minute, the KPI refresh every 15 minutes.

The drain runs at beat's finest crontab: a minute of served responses is one batch on a busy
shop. The KPIs are daily figures; a quarter of an hour keeps today's current without
recomputing the day (seconds to minutes on a large shop) more often than anyone looks.
``expire_seconds`` drops a run that could not start before the next one is due.
"""

import json

from django.db import migrations

SCHEDULES = [
    {
        "name": "Drain served impressions",
        "task": "recommender.tasks.drain_impressions_task",
        "minute": "*",
        "expire_seconds": 50,
    },
    {
        "name": "Refresh recommendation KPIs",
        "task": "recommender.tasks.refresh_kpis_task",
        "minute": "*/15",
        "expire_seconds": 14 * 60,
    },
]


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    for spec in SCHEDULES:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=spec["minute"],
            hour="*",
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
    from django.utils import timezone

    # The database scheduler reloads when this changes (historical models send no signal).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[spec["name"] for spec in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("recommender", "0003_impression_and_kpis")]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
