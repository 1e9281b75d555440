"""A run's database connection dies, or its whole worker: the run ends truthfully and clean.

Its own module: the worker test needs workers no other test shares (they would take the run).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from recommender.models import ModelVersion, TrainingRun
from recommender.training.leftovers import UNRECORDED_ARTIFACTS
from recommender.training.locking import TRAINING_NAMESPACE
from recommender.training.services import reconcile_stale_runs, run_training, start_training
from tests.recommender.conftest import make_shop, wait_until
from tests.recommender.test_tasks import finished, fitting, refreshed

pytestmark = pytest.mark.usefixtures("scripted_algorithm")


def _terminate_training_backend() -> int:
    """pg_terminate_backend of the session holding a training lock in this database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND granted AND classid = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [TRAINING_NAMESPACE],
        )
        return len(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_database_connection_is_killed_mid_fit_is_failed_at_once(media_root):
    make_shop()
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["scripted"],
        params={"scripted": {"sleep_seconds": 1.5}},
        enqueue=False,
    )
    escaped: list[BaseException] = []

    def train() -> None:
        try:
            run_training(run_id=run.pk)
        except BaseException as exc:  # what a Celery task would have died of
            escaped.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=train)
    thread.start()
    fitting(run)

    assert _terminate_training_backend() == 1
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert refreshed(run).status == TrainingRun.Status.FAILED, escaped
    assert "OperationalError" in run.error and run.finished_at is not None
    assert not escaped


def test_a_killed_attempts_artifacts_are_swept_and_its_successful_retry_clears_the_error(
    start_worker, worker_media_root
):
    make_shop()
    worker = start_worker()
    run = start_training(
        triggered_by=TrainingRun.Trigger.API,
        algorithms=["popularity", "scripted"],
        params={"scripted": {"save_sleep_seconds": 3}},
    )
    wait_until(lambda: refreshed(run).stage == "saving artifacts", timeout=60, step=0.05)
    popularity = worker_media_root / "models" / "popularity"
    # popularity's artifact is published; scripted's is being written when the worker dies.
    wait_until(lambda: _complete_artifacts(popularity) - _recorded(), timeout=10, step=0.05)
    leftover = (_complete_artifacts(popularity) - _recorded()).pop()
    worker.kill_everything()
    time.sleep(1.5)  # the heartbeat goes stale

    outcome = reconcile_stale_runs(now=timezone.now(), heartbeat_timeout=timedelta(seconds=1))

    assert outcome["requeued"] == [run.pk]
    assert not leftover.exists()
    assert "worker lost" in refreshed(run).error
    start_worker()
    run = finished(run, timeout=60)
    assert (run.status, run.attempts, run.error) == (TrainingRun.Status.SUCCEEDED, 2, "")
    assert UNRECORDED_ARTIFACTS not in run.stats
    assert _complete_artifacts(popularity) == _recorded()


def _complete_artifacts(folder: Path) -> set[Path]:
    # Published ones only, not a staging copy (".tmp-…") being renamed into place.
    return {p.parent for p in folder.glob("*/manifest.json") if not p.parent.name.startswith(".")}


def _recorded() -> set[Path]:
    from django.core.files.storage import default_storage

    return {
        Path(default_storage.path(v.artifact))
        for v in ModelVersion.objects.filter(algorithm="popularity")
    }
