"""Training on a real Celery worker process (real Redis broker, real PostgreSQL test database).

The worker sees only committed data, so these tests use transactional databases. A scripted
algorithm that sleeps in ``fit`` lets a test catch a run mid-fit and kill its worker.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from recommender.models import ModelVersion, TrainingRun
from recommender.selectors import champion_version
from recommender.training.services import (
    TrainingAlreadyRunning,
    run_training,
    start_training,
)
from tests.recommender.conftest import make_shop, wait_until

pytestmark = pytest.mark.usefixtures("scripted_algorithm")


def trigger(**params) -> TrainingRun:
    return start_training(
        triggered_by=TrainingRun.Trigger.API, algorithms=["scripted"], params={"scripted": params}
    )


def train_inline(**params) -> ModelVersion:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["scripted"],
        params={"scripted": params},
        enqueue=False,
    )
    run_training(run_id=run.pk)
    return ModelVersion.objects.get(run=run)


def refreshed(run: TrainingRun) -> TrainingRun:
    run.refresh_from_db()
    return run


def finished(run: TrainingRun, *, timeout: float = 30) -> TrainingRun:
    wait_until(lambda: refreshed(run).is_finished, timeout=timeout)
    return run


def fitting(run: TrainingRun, *, timeout: float = 30) -> None:
    wait_until(lambda: refreshed(run).stage.startswith("fitting"), timeout=timeout, step=0.05)


@pytest.mark.django_db
def test_the_beat_schedules_exist_in_the_database_after_migrate():
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="recommender.")}

    assert set(tasks) == {
        "recommender.tasks.nightly_retrain_task",
        "recommender.tasks.refresh_trending_task",
        "recommender.tasks.reconcile_stale_runs_task",
        "recommender.tasks.drain_impressions_task",
        "recommender.tasks.refresh_kpis_task",
    }
    nightly = tasks["recommender.tasks.nightly_retrain_task"]
    assert (nightly.crontab.hour, nightly.crontab.minute) == ("2", "30")
    assert all(t.enabled and t.expire_seconds for t in tasks.values())


@pytest.mark.django_db
def test_every_app_s_schedule_has_its_crontab_and_expiry_after_migrate():
    # The four schedule migrations write through one helper (config.beat_schedules).
    found = {
        t.task: (t.crontab.minute, t.crontab.hour, t.crontab.timezone.key, t.expire_seconds)
        for t in PeriodicTask.objects.filter(enabled=True, crontab__isnull=False)
    }

    assert found == {
        "recommender.tasks.nightly_retrain_task": ("30", "2", "UTC", 3600),
        "recommender.tasks.refresh_trending_task": ("7", "*", "UTC", 1800),
        "recommender.tasks.reconcile_stale_runs_task": ("*/5", "*", "UTC", 240),
        "recommender.tasks.drain_impressions_task": ("*", "*", "UTC", 50),
        "recommender.tasks.refresh_kpis_task": ("*/15", "*", "UTC", 840),
        "behavior.tasks.refresh_event_summaries_task": ("*/5", "*", "UTC", 240),
        "placements.tasks.fail_stopped_whatifs_task": ("*/5", "*", "UTC", 240),
    }


def test_a_triggered_run_completes_on_the_worker_records_metrics_and_promotes(
    live_broker, shared_worker
):
    make_shop()

    run = finished(trigger())

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.task_id and run.attempts == 1
    version = champion_version(algorithm="scripted")
    assert version.run == run and version.metrics["ndcg@10"] > 0


def test_a_fit_that_raises_on_the_worker_fails_the_run_and_keeps_the_champion(
    live_broker, shared_worker
):
    make_shop()
    champion = train_inline()

    run = finished(trigger(fail=True))

    assert run.status == TrainingRun.Status.FAILED
    assert "FitError: scripted failure" in run.error
    assert champion_version(algorithm="scripted") == champion


def test_a_second_run_for_the_same_algorithm_does_not_train_while_one_runs(
    live_broker, shared_worker
):
    make_shop()
    first = trigger(sleep_seconds=2)
    fitting(first)
    # Bypass the trigger check, as a duplicate delivery or a second beat would.
    second = TrainingRun.objects.create(
        algorithms=["scripted"], lock_key="scripted", triggered_by="schedule"
    )

    second = run_training(run_id=second.pk)

    assert second.status == TrainingRun.Status.FAILED
    assert second.error == f"Not started: run #{first.pk} was already training scripted."
    assert finished(first).status == TrainingRun.Status.SUCCEEDED
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_triggers_for_one_algorithm_create_exactly_one_run(scripted_algorithm):
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def trigger_once() -> None:
        from django.db import connection

        barrier.wait()
        try:
            outcomes.append(
                start_training(triggered_by="api", algorithms=["scripted"], enqueue=False)
            )
        except TrainingAlreadyRunning as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    runs = [o for o in outcomes if isinstance(o, TrainingRun)]
    refused = [o for o in outcomes if isinstance(o, TrainingAlreadyRunning)]
    assert len(runs) == len(refused) == 1
    assert refused[0].run_id == runs[0].pk == TrainingRun.objects.get().pk


def test_sigkill_of_the_pool_child_mid_fit_redelivers_and_the_run_succeeds(
    live_broker, shared_worker
):
    make_shop()
    champion = train_inline()
    run = trigger(sleep_seconds=2)
    fitting(run)
    [child] = shared_worker.pool_children()

    os.kill(child, signal.SIGKILL)
    # reject_on_worker_lost puts the message back; the next pool child takes the run over
    # (the dead child's advisory lock died with its connection).
    wait_until(lambda: refreshed(run).attempts == 2, timeout=20, step=0.05)

    assert champion_version(algorithm="scripted") == champion
    run = finished(run)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "worker lost" in run.stats["attempt_log"][0]
    assert "WorkerLostError" in shared_worker.output()
    assert champion_version(algorithm="scripted").run == run


def test_the_train_command_queues_for_the_worker_and_follows_the_run_with_wait(
    live_broker, shared_worker, capsys
):
    make_shop()

    call_command("train", "--algorithm", "scripted", "--wait")

    run = TrainingRun.objects.get()
    assert (run.status, run.triggered_by) == ("succeeded", "command") and run.task_id
    assert f"Run #{run.pk} succeeded" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_schedule_migration_writes_its_tasks_and_its_reverse_removes_them():
    from django.apps import apps

    from config.beat_schedules import schedules_operation

    spec = {
        "name": "A test's schedule",
        "task": "tests.task",
        "minute": "*/7",
        "expire_seconds": 60,
    }
    operation = schedules_operation([spec])

    operation.code(apps, None)
    task = PeriodicTask.objects.get(name=spec["name"])
    assert (task.task, task.crontab.minute, task.expire_seconds) == ("tests.task", "*/7", 60)

    operation.reverse_code(apps, None)
    assert not PeriodicTask.objects.filter(name=spec["name"]).exists()
