"""A whole worker (main process and pool child) SIGKILLed mid-fit: the message stays unacked
until the broker's visibility timeout, so the reconciler is what recovers the run.

Its own module: a worker shared by other tests would pick up the run instead.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.models import TrainingRun
from recommender.selectors import champion_version
from recommender.training.services import reconcile_stale_runs
from tests.recommender.conftest import make_shop
from tests.recommender.test_tasks import finished, fitting, refreshed, train_inline, trigger

pytestmark = pytest.mark.usefixtures("scripted_algorithm")


def test_sigkill_of_the_whole_worker_leaves_the_champion_and_the_reconciler_recovers_the_run(
    start_worker,
):
    make_shop()
    champion = train_inline()
    worker = start_worker()
    run = trigger(sleep_seconds=2)
    fitting(run)

    worker.kill_everything()
    time.sleep(1.5)  # the heartbeat goes stale; nothing else will notice

    assert refreshed(run).status == TrainingRun.Status.RUNNING
    assert champion_version(algorithm="scripted") == champion
    outcome = reconcile_stale_runs(now=timezone.now(), heartbeat_timeout=timedelta(seconds=1))
    assert outcome == {"requeued": [run.pk], "failed": [], "expired": []}
    assert refreshed(run).status == TrainingRun.Status.QUEUED
    start_worker()
    run = finished(run)
    assert (run.status, run.attempts) == (TrainingRun.Status.SUCCEEDED, 2), run.error
    assert champion_version(algorithm="scripted").run == run
