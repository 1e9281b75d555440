"""Embedded mode (tasks in-process): "Retrain" answers at once and the run trains behind it.

Transactional: the run is handed over after the commit, and the training thread has its own
database connection, which sees only committed rows.
"""

from __future__ import annotations

import time

import pytest

from recommender.models import TrainingRun
from tests.recommender.conftest import (  # noqa: F401 (media_root, scripted_algorithm: fixtures)
    make_shop,
    media_root,
    scripted_algorithm,
    wait_until,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("scripted_algorithm", "media_root"),
]

FIT_SECONDS = 3.0


@pytest.fixture
def embedded_training(settings, celery_conf):
    """What settings give without REDIS_URL: eager tasks, trained on a background thread."""
    celery_conf(task_always_eager=True)
    settings.SHELFWISE_TRAIN_IN_BACKGROUND = True
    settings.SHELFWISE_TRAINING_ALGORITHMS = ["scripted"]
    settings.SHELFWISE_ALGORITHM_PARAMS = {"scripted": {"sleep_seconds": FIT_SECONDS}}


def test_retrain_answers_at_once_and_the_run_completes_in_the_background_with_progress(
    trainer_client, embedded_training
):
    make_shop()
    started = time.monotonic()

    response = trainer_client.post("/models/retrain/", follow=True)

    elapsed = time.monotonic() - started
    run = TrainingRun.objects.get()
    assert elapsed < FIT_SECONDS, elapsed
    assert run.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
    assert f"Training run #{run.pk} queued; progress shows below." in response.content.decode()
    wait_until(lambda: TrainingRun.objects.get().stage.startswith("fitting"), timeout=30)
    polled = trainer_client.get(f"/models/runs/{run.pk}/progress/?polling=1")
    assert 'hx-trigger="every 2s"' in polled.content.decode()  # the row keeps polling
    wait_until(lambda: TrainingRun.objects.get().is_finished, timeout=60)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
