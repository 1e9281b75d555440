"""The proof schedules: the impressions drain every minute, the KPI refresh every 15 minutes.

The drain runs at beat's finest crontab: a minute of served responses is one batch on a busy
shop. The KPIs are daily figures; a quarter of an hour keeps today's current without
recomputing the day (seconds to minutes on a large shop) more often than anyone looks.
``expire_seconds`` drops a run that could not start before the next one is due.
"""

from django.db import migrations

from config.beat_schedules import schedules_operation

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


class Migration(migrations.Migration):
    dependencies = [("recommender", "0003_impression_and_kpis")]

    operations = [schedules_operation(SCHEDULES)]
