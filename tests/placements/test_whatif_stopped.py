"""A what-if whose worker stopped is failed with the cause, never left "running" for ever: its
process is gone (no live session holds its advisory lock) or its heartbeat went silent; a
queued one no worker picked up expires. A live worker's what-if is left alone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from placements.models import Placement, WhatIfRun
from placements.tasks import fail_stopped_whatifs_task
from placements.whatif_runs import WHATIF_NAMESPACE, execute_whatif, fail_stopped_whatifs
from recommender.training.locking import _key
from tests.placements.conftest import worker_replaying

pytestmark = pytest.mark.django_db


@pytest.fixture
def placement() -> Placement:
    return Placement.objects.create(name="home-for-you", title="Home", strategy="for_you", k=5)


def _running(placement: Placement, *, beat_ago: timedelta = timedelta(0)) -> WhatIfRun:
    return WhatIfRun.objects.create(
        placement=placement,
        days=7,
        status=WhatIfRun.Status.RUNNING,
        progress=30,
        stage="fitting item_knn on the events before the cut",
        heartbeat_at=timezone.now() - beat_ago,
    )


def test_a_live_worker_s_what_if_keeps_running_and_fails_once_its_process_is_gone(placement):
    run = _running(placement)

    with worker_replaying(run):
        while_alive = fail_stopped_whatifs(now=timezone.now(), placement=placement)
        assert WhatIfRun.objects.get(pk=run.pk).status == WhatIfRun.Status.RUNNING
    # The worker's connection closed with its process: PostgreSQL released the lock.
    after = fail_stopped_whatifs(now=timezone.now(), placement=placement)

    run.refresh_from_db()
    assert while_alive == [] and after == [run.pk]
    assert run.status == WhatIfRun.Status.FAILED and run.stage == "failed"
    assert run.error.startswith("Its worker stopped (its process is gone; last sign of life ")
    assert "while fitting item_knn" in run.error


def test_a_silent_heartbeat_fails_the_what_if_within_the_timeout_even_with_its_lock_held(
    placement, settings
):
    settings.SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS = 120
    fresh = _running(placement, beat_ago=timedelta(seconds=60))
    silent = _running(placement, beat_ago=timedelta(seconds=180))

    with worker_replaying(fresh), worker_replaying(silent):
        failed = fail_stopped_whatifs(now=timezone.now())

    assert failed == [silent.pk]
    silent.refresh_from_db()
    assert "Its worker stopped (no sign of life since " in silent.error
    assert WhatIfRun.objects.get(pk=fresh.pk).status == WhatIfRun.Status.RUNNING


def test_beat_expires_a_queued_what_if_no_worker_picked_up(placement, settings):
    settings.SHELFWISE_QUEUED_TIMEOUT_SECONDS = 3600
    lost = WhatIfRun.objects.create(
        placement=placement, days=7, heartbeat_at=timezone.now() - timedelta(hours=2)
    )
    waiting = WhatIfRun.objects.create(placement=placement, days=7, heartbeat_at=timezone.now())

    failed = fail_stopped_whatifs_task.delay().get()

    assert failed == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == WhatIfRun.Status.FAILED and "No worker picked it up" in lost.error
    assert WhatIfRun.objects.get(pk=waiting.pk).status == WhatIfRun.Status.QUEUED
    schedule = PeriodicTask.objects.get(task="placements.tasks.fail_stopped_whatifs_task")
    assert schedule.enabled and schedule.crontab.minute == "*/5" and schedule.expire_seconds


def test_a_redelivered_task_leaves_a_failed_what_if_failed_and_a_live_one_to_its_worker(
    placement,
):
    failed = _running(placement)
    fail_stopped_whatifs(now=timezone.now())
    live = _running(placement)

    with worker_replaying(live):
        again = execute_whatif(run_id=live.pk)
    redelivered = execute_whatif(run_id=failed.pk)

    assert redelivered.status == WhatIfRun.Status.FAILED and "worker stopped" in redelivered.error
    assert again.status == WhatIfRun.Status.RUNNING and again.stage == live.stage


def test_a_sigkilled_worker_process_s_what_if_is_failed_at_the_next_look(placement):
    run = _running(placement)
    script = (
        "import sys, time, psycopg\n"
        "c = psycopg.connect(sys.argv[1], autocommit=True)\n"
        "c.execute('SELECT pg_advisory_lock(%s, %s)', [int(sys.argv[2]), int(sys.argv[3])])\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    dsn = f"dbname={connection.settings_dict['NAME']} user=postgres host=127.0.0.1"
    key = [str(WHATIF_NAMESPACE), str(_key(str(run.pk)))]
    worker = subprocess.Popen(
        [sys.executable, "-c", script, dsn, *key], stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout.readline().strip() == "locked"
        assert fail_stopped_whatifs(now=timezone.now()) == []

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        failed = _wait_for(lambda: fail_stopped_whatifs(now=timezone.now()))
    finally:
        worker.kill()

    assert failed == [run.pk]
    assert "its process is gone" in WhatIfRun.objects.get(pk=run.pk).error


def _wait_for(check, *, timeout: float = 10.0):
    """PostgreSQL ends the dead session when it reads the closed socket: a moment, not more."""
    deadline = time.monotonic() + timeout
    while not (answer := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


def test_a_replay_cut_short_by_the_worker_s_shutdown_is_recorded_as_failed(placement, monkeypatch):
    run = WhatIfRun.objects.create(placement=placement, days=7, heartbeat_at=timezone.now())

    def shutdown(**_):
        raise SystemExit(1)  # what a worker's cold shutdown raises in its task

    monkeypatch.setattr("placements.whatif_runs.run_whatif", shutdown)
    with pytest.raises(SystemExit):
        execute_whatif(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == WhatIfRun.Status.FAILED and run.finished_at is not None
    assert run.error.startswith("Its worker stopped (SystemExit mid-replay)")
