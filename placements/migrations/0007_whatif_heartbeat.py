"""What-if runs beat a heartbeat while they replay, and beat fails the ones whose worker stopped.

Every 5 minutes, as for training runs: a dead worker's what-if is failed within the heartbeat
timeout plus 5 minutes even when nobody opens its placement's page (which asks at once).
"""

import json

from django.db import migrations, models

SCHEDULE = {
    "name": "Fail what-ifs whose worker stopped",
    "task": "placements.tasks.fail_stopped_whatifs_task",
    "expire_seconds": 4 * 60,
}


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="*/5",
        hour="*",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=SCHEDULE["name"],
        defaults={
            "task": SCHEDULE["task"],
            "crontab": crontab,
            "kwargs": json.dumps({}),
            "expire_seconds": SCHEDULE["expire_seconds"],
            "enabled": True,
        },
    )
    # The database scheduler reloads its schedule when this timestamp changes.
    from django.utils import timezone

    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def delete_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=SCHEDULE["name"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("placements", "0006_rotation_relative_price_tags_share_percent"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="whatifrun",
            name="heartbeat_at",
            field=models.DateTimeField(
                blank=True,
                help_text="Last sign of life from the worker replaying it (queued: when it was "
                "queued).",
                null=True,
            ),
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
