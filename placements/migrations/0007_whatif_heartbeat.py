"""What-if runs beat a heartbeat while they replay, and beat fails the ones whose worker stopped.

Every 5 minutes, as for training runs: a dead worker's what-if is failed within the heartbeat
timeout plus 5 minutes even when nobody opens its placement's page (which asks at once).
"""

from django.db import migrations, models

from config.beat_schedules import schedules_operation

SCHEDULE = {
    "name": "Fail what-ifs whose worker stopped",
    "task": "placements.tasks.fail_stopped_whatifs_task",
    "minute": "*/5",
    "expire_seconds": 4 * 60,
}


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
        schedules_operation([SCHEDULE]),
    ]
