"""/health/: readiness for anyone, details for staff or the token; beat's age for compose."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}


@pytest.fixture
def with_workers_expected(settings, celery_conf):
    """Tasks go to a broker (as in production), so workers and beat are checked too."""
    celery_conf(task_always_eager=False)


def _beat_sent(ago: timedelta) -> None:
    """Beat's newest send was ``ago`` (own rows: transactional tests flush the migrated ones)."""
    PeriodicTask.objects.filter(enabled=True).update(last_run_at=None)
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.update_or_create(
        name="health test",
        defaults={
            "task": "recommender.tasks.reconcile_stale_runs_task",
            "interval": every,
            "last_run_at": timezone.now() - ago,
        },
    )


def test_anyone_gets_ok_and_nothing_more_while_the_database_and_redis_answer(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_with_redis_unreachable_anyone_gets_503_without_the_error_text(client, redis_down):
    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


@pytest.mark.django_db(transaction=True)  # the checks read from their own threads' connections
def test_staff_see_every_check_and_a_dead_worker_degrades_without_failing_readiness(
    client, staff_user, with_workers_expected
):
    _beat_sent(timedelta(minutes=1))
    client.force_login(staff_user)

    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["cache"]["ok"] and checks["beat"]["ok"]
    assert checks["celery_workers"] == {
        **checks["celery_workers"],
        "ok": False,
        "required": False,
        "detail": "Unavailable: Celery workers unavailable",
    }


@pytest.mark.django_db(transaction=True)
def test_a_beat_silent_past_the_limit_is_reported_to_staff(
    client, staff_user, with_workers_expected, settings
):
    _beat_sent(timedelta(seconds=settings.SHELFWISE_BEAT_MAX_AGE_SECONDS + 60))
    client.force_login(staff_user)

    checks = client.get("/health/").json()["checks"]

    assert not checks["beat"]["ok"] and "s ago" in checks["beat"]["detail"]


def test_details_need_the_exact_token(client, settings, redis_down):
    settings.SHELFWISE_HEALTH_TOKEN = "s3cret-probe-token"

    right = client.get("/health/", headers={"Authorization": "Bearer s3cret-probe-token"})
    wrong = client.get("/health/", headers={"Authorization": "Bearer s3cret-probe-toke"})

    assert right.status_code == wrong.status_code == 503
    assert right.json()["checks"]["cache"]["ok"] is False
    assert wrong.json() == {"status": "unavailable"}


def test_the_beat_check_command_fails_when_beat_went_silent(settings):
    _beat_sent(timedelta(minutes=2))
    call_command("check_beat")  # fresh: exits 0

    _beat_sent(timedelta(seconds=settings.SHELFWISE_BEAT_MAX_AGE_SECONDS + 1))

    with pytest.raises(CommandError, match="Beat last sent a periodic task"):
        call_command("check_beat")
