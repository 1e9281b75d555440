"""The training service in-process: runs, metrics, promotion, failure, idempotency, locking."""

from __future__ import annotations

import signal
from datetime import timedelta

import numpy as np
import psycopg
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.utils import timezone

from behavior.models import Event
from recommender.artifacts import load_model
from recommender.models import ModelVersion, TrainingRun
from recommender.selectors import champion_version
from recommender.training.locking import TRAINING_NAMESPACE, _key
from recommender.training.services import (
    TrainingAlreadyRunning,
    UnknownAlgorithm,
    reconcile_stale_runs,
    run_training,
    start_training,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root", "scripted_algorithm")]


def train(algorithm: str = "scripted", **params) -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=[algorithm],
        params={algorithm: params},
        enqueue=False,
    )
    return run_training(run_id=run.pk)


def test_a_run_records_data_stats_metrics_and_promotes_the_first_version(shop):
    _, products = shop

    run = train()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert (run.progress, run.attempts, run.n_events) == (100, 1, 1500)
    assert run.holdout_start is not None and run.window_end > run.holdout_start
    version = champion_version(algorithm="scripted")
    assert version.run == run and version.reason == "First version of this algorithm: promoted."
    assert version.metrics["ndcg@10"] > 0 and 0 < version.metrics["coverage"] <= 1
    model, items, users = load_model(version)
    assert set(items.ids) <= {p.pk for p in products} and model.n_items == len(items)
    assert len(users) == version.n_users


def test_real_core_algorithms_train_and_promote_side_by_side(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["popularity", "item_knn", "als"],
        params={"als": {"factors": 8, "iterations": 3}},
        enqueue=False,
    )

    run = run_training(run_id=run.pk)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    champions = ModelVersion.objects.champions()
    assert sorted(v.algorithm for v in champions) == ["als", "item_knn", "popularity"]
    assert all(v.metrics["ndcg@10"] > 0 for v in champions)


def test_progress_passes_through_every_stage_in_order(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND, algorithms=["scripted"], enqueue=False
    )
    seen: list[tuple[int, str]] = []

    run_training(run_id=run.pk, on_progress=lambda percent, stage: seen.append((percent, stage)))

    stages = [stage.split(" ")[0] for _, stage in seen]
    first = {s: stages.index(s) for s in ("loading", "building", "fitting", "evaluating")}
    assert sorted(first.values()) == list(first.values())
    assert stages[-2:] == ["saving", "promoting"]
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


def test_an_equally_good_model_replaces_the_champion_within_tolerance(shop):
    first = train()

    second = train()

    old, new = ModelVersion.objects.get(run=first), ModelVersion.objects.get(run=second)
    assert (old.status, new.status) == (ModelVersion.Status.RETIRED, ModelVersion.Status.CHAMPION)
    assert new.replaced == old and new.reason.startswith("Promoted: NDCG@10")
    assert new.metrics["champion_ndcg@10"] == pytest.approx(old.metrics["ndcg@10"])


def test_a_worse_model_stays_a_candidate_with_the_reason(shop):
    train()
    champion = champion_version(algorithm="scripted")

    run = train(reverse=True)

    worse = ModelVersion.objects.get(run=run)
    assert worse.status == ModelVersion.Status.CANDIDATE
    assert worse.reason.startswith("Not promoted: NDCG@10")
    assert worse.metrics["ndcg@10"] < champion.metrics["ndcg@10"]
    assert champion_version(algorithm="scripted") == champion


def test_a_run_whose_fit_raises_ends_failed_and_leaves_the_champion(shop, media_root):
    train()
    champion = champion_version(algorithm="scripted")

    run = train(fail=True)

    assert run.status == TrainingRun.Status.FAILED
    assert "FitError: scripted failure" in run.error and run.finished_at is not None
    assert champion_version(algorithm="scripted") == champion
    assert not ModelVersion.objects.filter(run=run).exists()
    assert len(list((media_root / "models" / "scripted").iterdir())) == 1


def test_a_redelivered_task_for_a_finished_run_does_nothing(shop):
    run = train()
    finished_at = run.finished_at

    again = run_training(run_id=run.pk)

    assert (again.status, again.attempts, again.finished_at) == ("succeeded", 1, finished_at)
    assert ModelVersion.objects.filter(run=run).count() == 1


def test_a_second_trigger_for_an_algorithm_already_queued_gets_that_run(shop):
    first = start_training(
        triggered_by=TrainingRun.Trigger.API, algorithms=["scripted", "popularity"], enqueue=False
    )

    with pytest.raises(TrainingAlreadyRunning) as raised:
        start_training(triggered_by=TrainingRun.Trigger.API, algorithms=["scripted"])

    assert raised.value.run_id == first.pk
    assert TrainingRun.objects.count() == 1


def test_unknown_algorithms_are_refused_before_anything_is_stored():
    with pytest.raises(UnknownAlgorithm, match="no_such_model"):
        start_training(triggered_by=TrainingRun.Trigger.API, algorithms=["no_such_model"])

    assert not TrainingRun.objects.exists()


def test_a_run_without_events_fails_with_a_clear_message():
    run = train()

    assert run.status == TrainingRun.Status.FAILED
    assert "no shopper events" in run.error


def test_the_window_is_anchored_on_the_newest_event_not_on_the_clock(shop, settings):
    settings.SHELFWISE_TRAINING_WINDOW_DAYS = 30
    newest = Event.objects.order_by("-occurred_at").first().occurred_at
    inside = Event.objects.filter(occurred_at__gte=newest - timedelta(days=30)).count()

    run = train()

    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.window_end == newest and run.n_events == inside < 1500


def test_by_default_one_fresh_event_after_a_long_gap_keeps_all_history_in_training(shop, settings):
    settings.SHELFWISE_TRAINING_WINDOW_DAYS = 0
    history = Event.objects.filter(product__isnull=False).count()
    old = Event.objects.order_by("occurred_at").first()
    Event.objects.create(
        event_id="fresh-click",
        shopper=old.shopper,
        product=old.product,
        kind=old.kind,
        occurred_at=old.occurred_at + timedelta(days=5000),
    )

    run = train()

    assert run.status == TrainingRun.Status.SUCCEEDED
    assert run.n_events == history + 1


def test_an_event_stored_as_a_year_bc_by_an_older_version_is_skipped_not_fatal(shop, settings):
    settings.SHELFWISE_TRAINING_WINDOW_DAYS = 0
    history = Event.objects.filter(product__isnull=False).count()
    bad = Event.objects.filter(product__isnull=False).first()
    with connection.cursor() as cursor:
        # What ingestion stored for 0001-01-01T00:30+01:00 before it refused times before 1970.
        cursor.execute(
            "UPDATE behavior_event SET occurred_at = '0001-12-31 23:30:00+00 BC' WHERE id = %s",
            [bad.pk],
        )

    run = train()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.n_events == history - 1
    assert Event.objects.filter(pk=bad.pk).exists()


def test_a_run_whose_algorithm_is_locked_by_another_session_does_not_train(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.API, algorithms=["scripted"], enqueue=False
    )
    dsn = f"dbname={connection.settings_dict['NAME']} user=postgres host=127.0.0.1"
    with psycopg.connect(dsn, autocommit=True) as other_worker:
        other_worker.execute(
            "SELECT pg_advisory_lock(%s, %s)", [TRAINING_NAMESPACE, _key("scripted")]
        )

        result = run_training(run_id=run.pk)

    assert result.status == TrainingRun.Status.FAILED
    assert result.error.startswith("Not started:") and result.attempts == 0
    assert not ModelVersion.objects.exists()


def test_the_reconciler_requeues_a_silent_run_then_gives_up_after_three_attempts(
    shop, django_capture_on_commit_callbacks
):
    run = start_training(
        triggered_by=TrainingRun.Trigger.API, algorithms=["scripted"], enqueue=False
    )
    long_ago = timezone.now() - timedelta(minutes=10)
    stale = TrainingRun.objects.filter(pk=run.pk)
    stale.update(status="running", attempts=1, heartbeat_at=long_ago)

    with django_capture_on_commit_callbacks() as requeue:
        outcome = reconcile_stale_runs(now=timezone.now())

    run.refresh_from_db()
    assert outcome == {"requeued": [run.pk], "failed": [], "expired": []} and len(requeue) == 1
    assert run.status == TrainingRun.Status.QUEUED and "worker lost" in run.error
    stale = TrainingRun.objects.filter(pk=run.pk)
    stale.update(status="running", attempts=3, heartbeat_at=long_ago)

    outcome = reconcile_stale_runs(now=timezone.now())

    run.refresh_from_db()
    assert outcome == {"requeued": [], "failed": [run.pk], "expired": []}
    assert run.status == TrainingRun.Status.FAILED and "Gave up after 3 attempts" in run.error


def test_a_requeued_run_resumes_as_a_new_attempt_and_succeeds(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.API, algorithms=["scripted"], enqueue=False
    )
    TrainingRun.objects.filter(pk=run.pk).update(
        status="running", attempts=1, heartbeat_at=timezone.now()
    )

    result = run_training(run_id=run.pk)

    assert (result.status, result.attempts) == (TrainingRun.Status.SUCCEEDED, 2)
    assert "worker lost" in result.stats["attempt_log"][0]


def test_the_champion_is_scored_on_the_new_holdout_through_its_own_item_index(shop):
    train()
    champion = champion_version(algorithm="scripted")
    # New products and shoppers arrive: the next run's item index differs from the champion's.
    from tests.recommender.conftest import make_shop

    make_shop(n_shoppers=20, n_products=10, n_events=400, seed=8)

    run = train()

    new = ModelVersion.objects.get(run=run)
    assert new.n_items > champion.n_items
    assert new.metrics["champion_version"] == champion.pk
    assert 0 < new.metrics["champion_ndcg@10"] <= 1
    assert np.isfinite(new.metrics["ndcg@10"])


def test_the_scheduled_tasks_start_runs_and_skip_while_one_is_active(
    shop, settings, django_capture_on_commit_callbacks
):
    from recommender.tasks import nightly_retrain_task, refresh_trending_task

    settings.SHELFWISE_TRAINING_ALGORITHMS = ["scripted", "popularity", "not_deployed_here"]
    settings.SHELFWISE_TRENDING_ALGORITHMS = ["scripted"]

    with django_capture_on_commit_callbacks(execute=True):
        nightly_id = nightly_retrain_task.delay().get()
    with django_capture_on_commit_callbacks(execute=True):
        trending_id = refresh_trending_task.delay().get()

    nightly = TrainingRun.objects.get(pk=nightly_id)
    assert (nightly.status, nightly.triggered_by) == ("succeeded", "schedule")
    assert nightly.algorithms == ["scripted", "popularity"]
    assert TrainingRun.objects.get(pk=trending_id).algorithms == ["scripted"]
    TrainingRun.objects.create(algorithms=["scripted"], lock_key="scripted", triggered_by="api")
    assert refresh_trending_task.delay().get() is None


def test_the_reconciler_expires_a_queued_run_no_worker_ever_picked_up(settings):
    settings.SHELFWISE_QUEUED_TIMEOUT_SECONDS = 3600
    lost = start_training(triggered_by="api", algorithms=["scripted"], enqueue=False)
    TrainingRun.objects.filter(pk=lost.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    waiting = start_training(triggered_by="api", algorithms=["popularity"], enqueue=False)

    outcome = reconcile_stale_runs(now=timezone.now())

    assert outcome["expired"] == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == TrainingRun.Status.FAILED and "No worker picked" in lost.error
    assert TrainingRun.objects.get(pk=waiting.pk).status == TrainingRun.Status.QUEUED
    assert start_training(triggered_by="api", algorithms=["scripted"], enqueue=False)


def test_an_algorithm_over_its_item_limit_is_skipped_and_the_others_still_train(shop):
    run = start_training(
        triggered_by="command",
        algorithms=["ease", "popularity"],
        params={"ease": {"max_items": 10}},
        enqueue=False,
    )

    run = run_training(run_id=run.pk)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "limit of 10" in run.stats["skipped"]["ease"]
    assert [v.algorithm for v in run.versions.all()] == ["popularity"]


def test_past_its_dense_limit_ease_fits_on_the_most_supported_products(shop, settings):
    settings.SHELFWISE_ALGORITHM_PARAMS = {
        **settings.SHELFWISE_ALGORITHM_PARAMS,
        "ease": {"regularization": 5.0, "dense_items": 4},
    }
    run = start_training(triggered_by="command", algorithms=["ease"], enqueue=False)

    run = run_training(run_id=run.pk)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "skipped" not in run.stats
    model, items, _ = load_model(champion_version(algorithm="ease"))
    assert model.n_items == len(items) > 4
    assert model.input_items.size == 4 and model.item_weights.shape == (4, len(items))
    assert np.isfinite(run.versions.get().metrics["ndcg@10"])


def test_the_ease_dense_limit_setting_reaches_its_default_parameters():
    from django.conf import settings

    assert settings.SHELFWISE_ALGORITHM_PARAMS["ease"]["dense_items"] == (
        settings.SHELFWISE_EASE_DENSE_ITEMS
    )


def test_a_fit_that_raises_fails_only_its_algorithm_and_the_others_are_versioned(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["popularity", "scripted", "item_knn"],
        params={"scripted": {"fail": True}},
        enqueue=False,
    )

    run = run_training(run_id=run.pk)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.stats["failed"]["scripted"].startswith("FitError: scripted failure")
    assert sorted(v.algorithm for v in run.versions.all()) == ["item_knn", "popularity"]
    for algorithm in ("item_knn", "popularity"):
        model, items, _ = load_model(champion_version(algorithm=algorithm))
        assert model.n_items == len(items) > 0
    assert champion_version(algorithm="scripted") is None


def test_the_soft_time_limit_fails_the_algorithm_fitting_and_keeps_those_already_fitted(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["popularity", "scripted", "item_knn"],
        params={"scripted": {"sleep_seconds": 30}},
        enqueue=False,
    )

    def soft_time_limit(signum, frame):  # what billiard's handler does at the soft limit
        raise SoftTimeLimitExceeded()

    def on_progress(percent: int, stage: str) -> None:
        if stage.startswith("fitting scripted"):
            signal.setitimer(signal.ITIMER_REAL, 0.5)

    previous = signal.signal(signal.SIGALRM, soft_time_limit)
    try:
        run = run_training(run_id=run.pk, on_progress=on_progress)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.stats["failed"]["scripted"].startswith("Timed out")
    assert run.stats["failed"]["item_knn"].startswith("Not started")
    assert [v.algorithm for v in run.versions.all()] == ["popularity"]
    assert champion_version(algorithm="popularity").run == run


def test_a_refit_cut_short_by_the_soft_time_limit_keeps_the_model_the_holdout_scored(shop):
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["popularity", "scripted"],
        params={"scripted": {"sleep_seconds": 3}},
        enqueue=False,
    )

    def soft_time_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    def on_progress(percent: int, stage: str) -> None:
        if stage.startswith("refitting scripted"):
            signal.setitimer(signal.ITIMER_REAL, 0.5)

    previous = signal.signal(signal.SIGALRM, soft_time_limit)
    try:
        run = run_training(run_id=run.pk, on_progress=on_progress)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    why = "Saved as fitted before the holdout: the run reached its time limit refitting it."
    assert run.stats["not_refitted"] == {"scripted": why}
    version = ModelVersion.objects.get(run=run, algorithm="scripted")
    assert version.metrics["fitted_before_holdout"] == 1.0
    assert "refit_seconds" not in version.metrics
