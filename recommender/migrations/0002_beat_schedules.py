"""The periodic schedules, stored in django-celery-beat so merchandisers can edit them in admin.

Crontab rather than intervals (a restart does not shift them), and each has ``expire_seconds``
so that when beat or the workers were down the backlog is dropped instead of piling up.
"""

from django.db import migrations

from config.beat_schedules import schedules_operation

SCHEDULES = [
    {
        # Nightly full retrain at 02:30 UTC: the quietest hour for European shops, after the
        # day's events are in, and the result serves the whole next day. A whole night's
        # retrain that could not start within an hour is skipped: the next night retrains anyway.
        "name": "Nightly full retrain",
        "task": "recommender.tasks.nightly_retrain_task",
        "minute": "30",
        "hour": "2",
        "expire_seconds": 60 * 60,
    },
    {
        # Trending moves within hours (a promotion, a viral product) while the full models learn
        # slow item structure; refreshing only the cheap popularity model hourly keeps "trending"
        # fresh without paying for a full retrain.
        "name": "Hourly trending refresh",
        "task": "recommender.tasks.refresh_trending_task",
        "minute": "7",
        "expire_seconds": 30 * 60,
    },
    {
        # Every 5 minutes: a dead worker's run is noticed within the heartbeat timeout plus
        # 5 minutes, well before the broker's visibility timeout (an hour) would redeliver it.
        "name": "Reconcile stale training runs",
        "task": "recommender.tasks.reconcile_stale_runs_task",
        "minute": "*/5",
        "expire_seconds": 4 * 60,
    },
]


class Migration(migrations.Migration):
    dependencies = [
        ("recommender", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [schedules_operation(SCHEDULES)]
