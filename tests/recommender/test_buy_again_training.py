"""The buy-again model a training run tunes (training.repeat): chosen on a validation window
before the holdout, never on the holdout, and kept only when it beats own most frequent."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from recommender.artifacts import load_repeat_artifact
from recommender.core.repeat import Purchases
from recommender.models import TrainingRun
from recommender.training.dataset import EventArrays
from recommender.training.leftovers import UNRECORDED_ARTIFACTS
from recommender.training.repeat import (
    BLENDS,
    DEFAULT,
    HALF_LIVES,
    POPULARITY_HALF_LIVES,
    POPULARITY_WEIGHTS,
    _holdout,
    _searched_or_defaults,
    train_repeat,
)
from recommender.training.services import run_training, start_training

DAY = 86_400.0
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _shop(seed: int = 0, weeks: int = 40) -> EventArrays:
    """80 shoppers in groups of ten: each buys their group's staple most weeks, from a week of
    their own on their group's second staple too, and two random one-offs a month. Who has
    not started the second staple yet only the neighbours can point to it."""
    rng = np.random.default_rng(seed)
    shoppers, products, times = [], [], []
    for shopper in range(80):
        staple, second = 1000 + shopper // 10, 2000 + shopper // 10
        starts = rng.integers(0, weeks)
        for week in range(weeks):
            if rng.random() < 0.8:
                shoppers.append(shopper), products.append(staple)
                times.append(START + (week * 7 + rng.random()) * DAY)
            if week >= starts and rng.random() < 0.8:
                shoppers.append(shopper), products.append(second)
                times.append(START + (week * 7 + 1 + rng.random()) * DAY)
            if week % 4 == 0:
                for item in rng.choice(200, size=2, replace=False):
                    shoppers.append(shopper), products.append(int(item))
                    times.append(START + (week * 7 + 3 + rng.random()) * DAY)
    order = np.argsort(times)
    n = len(order)
    return EventArrays(
        np.array(shoppers, np.int64)[order],
        np.array(products, np.int64)[order],
        np.array(["purchase"] * n),
        np.ones(n),
        np.array(times)[order],
        datetime.fromtimestamp(START, UTC),
        datetime.fromtimestamp(START + weeks * 7 * DAY, UTC),
    )


HOLDOUT = START + 36 * 7 * DAY


def _search_best(training) -> dict:
    return max(training.record["trials"], key=lambda t: t["ndcg"])["params"]


def test_the_search_never_reads_purchases_from_the_holdout_on(settings):
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = None
    events = _shop()
    scrambled = _shop()
    late = scrambled.times >= HOLDOUT
    scrambled.products[late] = np.random.default_rng(1).permutation(scrambled.products[late])

    one = train_repeat(events, holdout_start=HOLDOUT, budget_seconds=5)
    other = train_repeat(scrambled, holdout_start=HOLDOUT, budget_seconds=5)

    assert one.record["validation_cut"] < HOLDOUT
    # The grid runs in one order until the budget ends, and a loaded machine ends it sooner in
    # one run than the other: the trials both ran must be identical, and there must be some.
    ran = min(len(one.record["trials"]), len(other.record["trials"]))
    assert ran >= 3
    assert one.record["trials"][:ran] == other.record["trials"][:ran]
    best = max(one.record["trials"][:ran], key=lambda t: t["ndcg"])["params"]
    assert best == max(other.record["trials"][:ran], key=lambda t: t["ndcg"])["params"]
    # The holdout only settles the search's choice against the defaults, and the scramble
    # shows there.
    assert one.record["holdout"] != other.record["holdout"]
    for training in (one, other):
        record = training.record
        assert record["chosen"] in (_search_best(training), DEFAULT)
        if training.serves:
            assert training.model.params == record["chosen"]


def test_a_search_choice_that_loses_the_holdout_to_the_defaults_gives_way():
    events = _shop()
    training = train_repeat(events, holdout_start=HOLDOUT, budget_seconds=0)
    purchases = Purchases(
        training.users.to_index(events.shoppers),
        training.items.to_index(events.products),
        events.times,
        (len(training.users), len(training.items)),
    )
    # Personal frequency at a one-week half-life cannot point a shopper to the second staple
    # they have not started; the defaults' neighbours can.
    narrow = {**DEFAULT, "half_life_days": 7.0, "alpha": 1.0, "neighbours": 0}
    trials = [{"params": narrow, "ndcg": 0.9}, {"params": dict(DEFAULT), "ndcg": 0.5}]
    end = events.times.max() + 1.0

    kept = _searched_or_defaults(purchases, trials[0], trials, start=HOLDOUT, end=end, k=10)
    alone = _searched_or_defaults(purchases, trials[0], trials[:1], start=HOLDOUT, end=end, k=10)

    assert kept["params"] == DEFAULT and kept["ndcg"] == 0.5
    narrow_holdout = _holdout(purchases, narrow, start=HOLDOUT, end=end, k=10)
    assert kept["search_holdout"] == narrow_holdout
    assert kept["holdout"] == kept["defaults_holdout"]
    assert kept["holdout"]["ndcg"] > narrow_holdout["ndcg"]
    # Without the defaults' trial (a budget spent before them) the search's choice stays.
    assert alone["params"] == narrow and "defaults_holdout" not in alone


def test_a_shop_of_weekly_staples_serves_the_model(settings):
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = None

    training = train_repeat(_shop(), holdout_start=HOLDOUT, budget_seconds=5)

    assert training.serves
    assert training.record["validation_ndcg"] > training.record["own_most_frequent_validation_ndcg"]
    assert training.model.params == training.record["chosen"]


def test_the_search_covers_every_axis_before_the_rest_of_the_grid(settings):
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = None

    trials = train_repeat(_shop(), holdout_start=HOLDOUT, budget_seconds=60).record["trials"]

    params = [t["params"] for t in trials]
    best_of = lambda done: max(trials[:done], key=lambda t: t["ndcg"])["params"]  # noqa: E731
    half_lives = [p["half_life_days"] for p in params[: len(HALF_LIVES)]]
    assert sorted(half_lives) == sorted(HALF_LIVES)  # the default's half-life is not repeated
    blends = params[len(HALF_LIVES) : len(HALF_LIVES) + len(BLENDS) - 1]
    best = best_of(len(HALF_LIVES))
    assert {p["half_life_days"] for p in blends} == {best["half_life_days"]}
    # Every popularity half-life is tried at the best popularity weight before the full grid.
    weights_end = len(HALF_LIVES) + len(BLENDS) - 1 + len(POPULARITY_WEIGHTS) - 1
    decays = params[weights_end : weights_end + len(POPULARITY_HALF_LIVES) - 1]
    best = best_of(weights_end)
    assert {p["popularity_weight"] for p in decays} == {best["popularity_weight"]}
    assert {p["popularity_half_life_days"] for p in decays} | {
        best["popularity_half_life_days"]
    } == set(POPULARITY_HALF_LIVES)
    assert len(params) == (
        len(HALF_LIVES) * len(BLENDS) * len(POPULARITY_WEIGHTS) * len(POPULARITY_HALF_LIVES)
    )


def test_the_model_is_fitted_with_popularity_counted_at_its_chosen_half_life(settings):
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = None
    events = _shop()

    training = train_repeat(events, holdout_start=HOLDOUT, budget_seconds=5)

    decay = training.model.params["popularity_half_life_days"]
    purchases = Purchases(
        training.users.to_index(events.shoppers),
        training.items.to_index(events.products),
        events.times,
        (len(training.users), len(training.items)),
    )
    counted = purchases.popularity(before=events.times.max() + 1.0, half_life_days=decay)
    assert training.model.popularity == pytest.approx(counted / counted.max(), rel=1e-5)


def test_too_few_validation_shoppers_keep_the_frequency_ranking():
    events = _shop()
    few = events.subset(np.flatnonzero(events.shoppers < 10))

    training = train_repeat(few, holdout_start=HOLDOUT, budget_seconds=5)

    assert not training.serves
    assert "fewer than" in training.record["note"]


def _serving_buy_again(monkeypatch) -> None:
    """The run's buy-again step trains on the weekly-staples shop (it serves there)."""
    from recommender.training import pipeline, repeat

    real = repeat.buy_again_for_run

    def on_staples(*, events, holdout_start, budget_seconds):
        return real(events=_shop(), holdout_start=HOLDOUT, budget_seconds=2)

    monkeypatch.setattr(pipeline, "buy_again_for_run", on_staples)


def _buy_again_folders(media_root) -> list:
    folder = media_root / "models" / "buy_again"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.django_db
def test_a_succeeded_run_keeps_its_buy_again_model_where_its_stats_say(
    shop, media_root, settings, monkeypatch
):
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = None
    _serving_buy_again(monkeypatch)

    run = _train()

    assert run.status == TrainingRun.Status.SUCCEEDED
    path = run.stats["buy_again"]["artifact"]
    model, items, _users = load_repeat_artifact(path)
    assert model.params == run.stats["buy_again"]["chosen"]
    assert len(items) > 0
    assert UNRECORDED_ARTIFACTS not in run.stats  # noted while writing, kept by the success


@pytest.mark.django_db
def test_a_run_failing_after_its_buy_again_model_was_written_leaves_no_files(
    shop, media_root, settings, monkeypatch
):
    from recommender.training import pipeline

    settings.SHELFWISE_EVAL_MAX_SHOPPERS = None
    _serving_buy_again(monkeypatch)

    def full_disk(**kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline, "write_artifact", full_disk)

    run = _train()

    assert run.status == TrainingRun.Status.FAILED
    assert run.stats["buy_again"]["artifact"]  # it was chosen and written, then removed
    assert _buy_again_folders(media_root) == []


def _train() -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND, algorithms=["popularity"], enqueue=False
    )
    return run_training(run_id=run.pk)


def test_the_holdout_scores_a_bounded_sample_of_its_shoppers(settings):
    everyone = train_repeat(_shop(), holdout_start=HOLDOUT, budget_seconds=2)
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = 30

    sampled = train_repeat(_shop(), holdout_start=HOLDOUT, budget_seconds=2)

    assert everyone.record["holdout"]["shoppers"] > 30
    assert sampled.record["holdout"]["shoppers"] == 30
    assert sampled.record["validation_shoppers"] == 30
