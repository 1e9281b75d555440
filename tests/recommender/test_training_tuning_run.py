"""A training run tunes each algorithm on its validation window, then fits the choice again on
the whole window before it serves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from behavior.models import Event, EventKind, Shopper
from recommender.artifacts import load_model
from recommender.models import ModelVersion, TrainingRun
from recommender.training.services import run_training, start_training
from tests.recommender.conftest import NEWEST_EVENT

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def train(algorithms: list[str], params: dict | None = None) -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=algorithms,
        params=params,
        enqueue=False,
    )
    return run_training(run_id=run.pk)


@pytest.fixture
def newcomer(shop) -> Shopper:
    """A shopper whose only event falls in the holdout."""
    _shoppers, products = shop
    shopper = Shopper.objects.create(external_id="arrived-last-week")
    Event.objects.create(
        shopper=shopper,
        product=products[0],
        kind=EventKind.PURCHASE,
        occurred_at=NEWEST_EVENT - timedelta(hours=1),
    )
    return shopper


def test_the_saved_model_knows_shoppers_seen_only_in_the_holdout(newcomer):
    run = train(["item_knn"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = ModelVersion.objects.get(run=run)
    _model, _items, users = load_model(version)
    assert newcomer.pk in set(users.ids)
    assert version.n_users == len(users) == run.n_shoppers
    assert version.metrics["refit_seconds"] >= 0


def test_without_refit_the_saved_model_is_the_one_evaluated(newcomer, settings):
    settings.SHELFWISE_REFIT_WHOLE_WINDOW = False

    run = train(["item_knn"])

    version = ModelVersion.objects.get(run=run)
    _model, _items, users = load_model(version)
    assert "refit_seconds" not in version.metrics
    assert newcomer.pk not in set(users.ids)


def test_a_run_with_a_budget_tunes_records_its_trials_and_versions_the_choice(shop, settings):
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 6

    run = train(["popularity", "item_knn"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    record = run.stats["tuning"]["item_knn"]
    assert len(record["trials"]) >= 2
    assert record["validation_ndcg"] >= record["default_validation_ndcg"]
    version = ModelVersion.objects.get(run=run, algorithm="item_knn")
    assert version.params == record["chosen"]
    assert "popularity" not in run.stats["tuning"]  # nothing to search


def test_the_next_run_starts_from_the_last_choice_and_pinned_parameters_are_not_tuned(
    shop, settings
):
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 4
    first = train(["item_knn", "als"], params={"als": {"factors": 8, "iterations": 3}})
    chosen = first.stats["tuning"]["item_knn"]["chosen"]

    second = train(["item_knn"])

    assert "als" not in first.stats["tuning"]
    assert ModelVersion.objects.get(run=first, algorithm="als").params["factors"] == 8
    trials = second.stats["tuning"]["item_knn"]["trials"]
    tried = [{**chosen, **t["params"]} for t in trials[:2]]
    assert chosen in tried


def _as_if_its_fit_took(run: TrainingRun, algorithm: str, seconds: float) -> None:
    version = ModelVersion.objects.get(run=run, algorithm=algorithm)
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={**version.metrics, "fit_seconds": seconds}
    )


def test_an_algorithm_whose_last_fit_outlasted_its_share_is_not_tuned(shop, settings):
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 0
    first = train(["item_knn"])  # no search, so nothing to start the next one from
    # As a 60,000-product shop's EASE: one fit longer than the whole share.
    _as_if_its_fit_took(first, "item_knn", 9.5)
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 4

    second = train(["item_knn"])

    assert second.status == TrainingRun.Status.SUCCEEDED, second.error
    # A 4 s budget: buy again's share is 2 s, item-kNN's (the only tuned algorithm) the rest.
    assert second.stats["tuning"]["item_knn"] == {
        "note": "not tuned: its last fit took 10 s, more than its 2 s share of the tuning budget"
    }
    assert ModelVersion.objects.get(run=second, algorithm="item_knn").params == {
        **settings.SHELFWISE_ALGORITHM_PARAMS["item_knn"],
        "half_life_days": settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS["item_knn"],
    }


def test_without_time_for_a_search_the_last_runs_choice_is_kept(shop, settings):
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 4
    first = train(["item_knn"])
    chosen = first.stats["tuning"]["item_knn"]["chosen"]
    _as_if_its_fit_took(first, "item_knn", 9.5)

    second = train(["item_knn"])

    record = second.stats["tuning"]["item_knn"]
    assert "trials" not in record and record["note"].endswith("the last run's choice is kept")
    assert record["chosen"] == chosen
    version = ModelVersion.objects.get(run=second, algorithm="item_knn")
    # Served unless its defaults score higher on this run's holdout.
    assert version.params == (
        chosen
        if version.metrics.get("tuned_kept", 1.0)
        else {
            **settings.SHELFWISE_ALGORITHM_PARAMS["item_knn"],
            "half_life_days": settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS["item_knn"],
        }
    )


def test_buy_again_and_the_algorithms_share_one_tuning_budget(settings):
    from recommender.training.tuning import budget_shares

    run = TrainingRun(algorithms=["popularity", "item_knn", "als"], stats={})
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 120

    algorithms, buy_again = budget_shares(run)

    assert algorithms + buy_again == pytest.approx(120)
    assert buy_again == pytest.approx(30)  # one algorithm's share of four
    run.stats = {"tuning_budget_seconds": 40}
    assert sum(budget_shares(run)) == pytest.approx(40)


def _newcomer_known(version: ModelVersion, newcomer: Shopper) -> bool:
    _model, _items, users = load_model(version)
    return newcomer.pk in set(users.ids)


def test_only_what_can_serve_is_refitted_on_the_whole_window(newcomer, settings):
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 0
    params = {"als": {"factors": 8, "iterations": 3}}

    run = train(["popularity", "item_knn", "als", "ease"], params=params)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    versions = {v.algorithm: v for v in ModelVersion.objects.filter(run=run)}
    best, other = sorted(("als", "ease"), key=lambda a: -versions[a].metrics["ndcg@10"])
    # "For you" serves the best personalised model, similar products item-kNN's neighbours,
    # and best-sellers back both: those four see the holdout's newcomer.
    for algorithm in ("popularity", "item_knn", best):
        assert "refit_seconds" in versions[algorithm].metrics, algorithm
        assert _newcomer_known(versions[algorithm], newcomer), algorithm
    # The other cannot serve after this run: versioned and scored, not fitted a second time.
    assert "refit_seconds" not in versions[other].metrics
    assert versions[other].metrics["fitted_before_holdout"] == 1.0
    assert not _newcomer_known(versions[other], newcomer)
    assert versions[other].n_users == len(load_model(versions[other])[2]) < run.n_shoppers
    assert run.stats["not_refitted"] == {
        other: "Saved as fitted before the holdout: it cannot serve after this run."
    }


def test_the_configured_serving_model_is_refitted_even_when_it_lost(newcomer, settings):
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 0
    params = {"als": {"factors": 8, "iterations": 3}}
    first = train(["als", "ease"], params=params)
    scores = {v.algorithm: v.metrics["ndcg@10"] for v in ModelVersion.objects.filter(run=first)}
    loser = min(scores, key=scores.get)
    settings.SHELFWISE_SERVING_MODEL = loser

    second = train(["als", "ease"], params=params)

    version = ModelVersion.objects.get(run=second, algorithm=loser)
    assert "refit_seconds" in version.metrics
    assert _newcomer_known(version, newcomer)
    assert "not_refitted" not in second.stats
