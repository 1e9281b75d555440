"""``manage.py train`` without a broker: inline with a progress bar, clear failures."""

from __future__ import annotations

from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from recommender.models import ModelVersion, TrainingRun
from recommender.training.locking import TRAINING_NAMESPACE, _key

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "scripted_algorithm")]


def run_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("train", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_trains_inline_without_a_broker_and_prints_a_summary(shop, settings, capsys):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    out, _ = run_command("--algorithm", "scripted", "--algorithm", "popularity")

    run = TrainingRun.objects.get()
    assert (run.status, run.triggered_by) == ("succeeded", "command")
    assert f"Run #{run.pk} succeeded" in out and "1,500 events" in out
    assert "scripted" in out and "popularity" in out and "champion" in out
    assert "100/100" in capsys.readouterr().err  # tqdm draws on stderr
    assert ModelVersion.objects.champions().count() == 2


def test_a_failed_run_exits_non_zero_with_the_error(shop, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SHELFWISE_ALGORITHM_PARAMS = {"scripted": {"fail": True}}

    with pytest.raises(CommandError, match=r"failed: FitError: scripted failure"):
        run_command("--algorithm", "scripted")

    assert TrainingRun.objects.get().status == TrainingRun.Status.FAILED


def test_a_shop_without_events_exits_with_the_reason_and_no_traceback(settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    with pytest.raises(CommandError) as raised:
        run_command("--algorithm", "popularity")

    message = str(raised.value)
    assert "TrainingDataError: There are no shopper events with a product yet" in message
    assert "Traceback" not in message and "File " not in message
    assert TrainingRun.objects.get().status == TrainingRun.Status.FAILED
    assert not any(record.exc_info for record in caplog.records)


def test_an_unknown_algorithm_exits_non_zero_and_stores_nothing():
    with pytest.raises(CommandError, match="Unknown algorithm"):
        run_command("--algorithm", "telepathy")

    assert not TrainingRun.objects.exists()


def test_a_blend_on_its_own_exits_non_zero_and_stores_nothing():
    with pytest.raises(CommandError, match="Not trainable on its own"):
        run_command("--algorithm", "blend")

    assert not TrainingRun.objects.exists()


def test_a_run_already_active_is_named_instead_of_starting_another(shop):
    active = TrainingRun.objects.create(
        algorithms=["scripted"], lock_key="scripted", triggered_by="schedule", status="running"
    )
    # Its worker is alive: it holds the run's lock (a running run without one lost its worker).
    dsn = f"dbname={connection.settings_dict['NAME']} user=postgres host=127.0.0.1"
    with psycopg.connect(dsn, autocommit=True) as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", [TRAINING_NAMESPACE, _key("scripted")])

        with pytest.raises(CommandError, match=f"#{active.pk} is already queued or running"):
            run_command("--algorithm", "scripted", "--inline")


def test_a_running_run_whose_process_died_does_not_block_the_next_inline_run(shop):
    # What a crashed `train --inline` left behind: "running", its lock gone with its connection.
    dead = TrainingRun.objects.create(
        algorithms=["scripted"], lock_key="scripted", triggered_by="command", status="running"
    )

    out, _ = run_command("--algorithm", "scripted", "--inline")

    dead.refresh_from_db()
    assert dead.status == TrainingRun.Status.FAILED and dead.error.startswith("Worker lost")
    run = TrainingRun.objects.exclude(pk=dead.pk).get()
    assert run.status == TrainingRun.Status.SUCCEEDED and f"Run #{run.pk} succeeded" in out
