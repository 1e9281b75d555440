"""The task queue's Redis stalls or stops: triggers answer promptly, workers wait it out.

On a private redis-server (tests/redis_server.py), the shared one being everyone's. A trigger
that cannot hand its run to the broker answers 503 within seconds and leaves the run
``not_queued`` (finished), so the next trigger is not refused with 409; a worker started
while the broker is down, or losing it later, retries until it is back, then trains.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from recommender.models import TrainingRun
from tests.recommender.conftest import WorkerProcess, make_shop
from tests.recommender.test_tasks import finished, trigger

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("scripted_algorithm"),
]

# Guards a hang (33 s was seen with Redis stopped), not a speed target.
PROMPT_SECONDS = 5.0


@pytest.fixture
def private_broker(private_redis, celery_conf, monkeypatch):
    """This process publishes to the private Redis (the app's cached pools swapped out)."""
    from config.celery import app

    url = private_redis.url(0)
    celery_conf(task_always_eager=False, broker_url=url, broker_write_url=url)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    return private_redis


@pytest.fixture
def trainer_api(staff_user) -> APIClient:
    staff_user.user_permissions.add(Permission.objects.get(codename="add_trainingrun"))
    # 5xx responses are reported to got_request_exception; answer them instead of re-raising.
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(staff_user)
    return client


def _post_retrain(client: APIClient) -> tuple[int, float]:
    started = time.monotonic()
    response = client.post("/api/v1/training-runs", {"algorithms": ["scripted"]}, format="json")
    return response.status_code, time.monotonic() - started


@pytest.mark.parametrize("outage", ["stall", "stop"])
def test_with_the_broker_stalled_or_stopped_a_retrain_answers_503_promptly_and_blocks_nothing(
    outage, private_broker, trainer_api
):
    getattr(private_broker, outage)()

    first = _post_retrain(trainer_api)
    second = _post_retrain(trainer_api)

    assert first[0] == 503 and first[1] < PROMPT_SECONDS, first
    assert second[0] == 503 and second[1] < PROMPT_SECONDS, second  # not 409: nothing blocks
    runs = list(TrainingRun.objects.order_by("pk"))
    assert [run.status for run in runs] == [TrainingRun.Status.NOT_QUEUED] * 2
    assert all("unreachable" in run.error for run in runs)
    assert not TrainingRun.objects.active().exists()


def test_a_worker_waits_out_broker_outages_at_start_and_later_then_trains(
    private_broker, worker_media_root, settings, tmp_path
):
    from django.db import connection

    settings.MEDIA_ROOT = str(worker_media_root)
    make_shop()
    private_broker.stop()
    worker = WorkerProcess(
        database_name=connection.settings_dict["NAME"],
        media_root=worker_media_root,
        log_path=tmp_path / "worker.log",
        broker_url=private_broker.url(0),
        wait_ready=False,
    )
    try:
        worker.wait_for("Cannot connect to redis", timeout=30, times=2)  # retrying, not exiting
        private_broker.start()
        worker.wait_for("ready.", timeout=60)
        private_broker.stop()  # an outage while it consumes
        worker.wait_for("Connection to broker lost", timeout=30)
        worker.wait_for("Cannot connect to redis", timeout=30, times=3)
        assert worker.process.poll() is None, worker.output()

        private_broker.start()
        run = finished(trigger(), timeout=90)

        assert run.status == TrainingRun.Status.SUCCEEDED, (run.error, worker.output())
    finally:
        worker.stop()
