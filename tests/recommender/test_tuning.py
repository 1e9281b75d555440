"""Per-shop tuning: a search on a validation window carved from the training events."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from demo.synthetic import plan_shop
from recommender.training.algorithm_fits import fit_algorithms
from recommender.training.dataset import TrainingData, build_training_data
from recommender.training.fitting import Configuration
from recommender.training.tuning import (
    TuningResult,
    default_configurations,
    preferred,
    search_spaces,
    tune,
    validation_data,
)
from tests.planned_events import planned_event_arrays
from tests.recommender.scripted import Scripted

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KIND_WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 8.0, "rating": 2.0}
SERVING_ROWS = {"realtime_half_life_hours": 72.0, "recent_events": 50}


@pytest.fixture(scope="module")
def demo_data() -> TrainingData:
    """The demo generator's shop at 600 products: Zipf popularity inside planted tastes."""
    arrays = planned_event_arrays(plan_shop(seed=42, now=NOW, scale=0.3), now=NOW)
    return build_training_data(
        arrays,
        kind_weights=KIND_WEIGHTS,
        half_life_days=90.0,
        value_transform="log1p",
        holdout_fraction=0.1,
        **SERVING_ROWS,
    )


def test_the_validation_window_lies_before_the_holdout(demo_data):
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)

    assert validation is not None
    assert validation.holdout_start < demo_data.holdout_start
    assert validation.n_events == demo_data.stats["train_events"]


def test_tuning_beats_defaults_tuned_on_another_shop_and_records_every_trial(demo_data):
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    # Online Retail's item-kNN defaults. They scored 2× below the search here while BM25's
    # length was normalised by the mean item length (it buried the head, issue 14); with the
    # interaction-weighted reference the search still gains a third (0.080 -> 0.107).
    retail = Configuration(
        {"similarity": "dot", "weighting": "bm25", "k_neighbors": 300, "bm25_k1": 12.0,
         "bm25_b": 1.0},
        180.0,
    )  # fmt: skip

    # A trial count, not a time: the seeded search makes the same trials on any machine.
    result = tune(
        "item_knn",
        validation=validation,
        defaults=retail,
        budget_seconds=3_600,
        max_trials=10,
        seed=1,
    )

    assert result.trials[0]["params"]["bm25_b"] == 1.0  # the defaults are tried first
    assert result.default_score == pytest.approx(result.trials[0]["ndcg"], abs=1e-6)
    assert result.score >= 1.25 * result.default_score
    # The defaults, ten searched, then the best at the popularity penalty's eight other values.
    assert len(result.trials) == 19
    assert result.chosen != retail


def test_with_no_budget_the_defaults_and_the_warm_start_are_tried_and_the_better_kept(demo_data):
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    defaults = Configuration({"regularization": 5e5}, 90.0)
    good = {"regularization": 3_000.0, "half_life_days": 90.0}

    result = tune(
        "ease", validation=validation, defaults=defaults, budget_seconds=0, warm_start=good
    )

    assert [t["params"]["regularization"] for t in result.trials] == [5e5, 3_000.0]
    best = max(result.trials, key=lambda t: t["ndcg"])
    assert result.chosen.params["regularization"] == best["params"]["regularization"]
    assert result.score == pytest.approx(best["ndcg"], abs=1e-6)


def test_every_searched_parameter_is_one_its_algorithm_accepts():
    from inspect import signature

    from recommender.core import ALGORITHMS

    for algorithm, space in search_spaces().items():
        accepted = set(signature(ALGORITHMS[algorithm].__init__).parameters)
        # Searched but not the model's: its matrix's decay and how its live rows are weighed.
        serving = {
            "half_life_days",
            "realtime_half_life_hours",
            "realtime_row_log1p",
            "matrix_transform",
            "popularity_penalty",
        }
        assert set(space) - serving <= accepted, algorithm


def test_too_few_validation_shoppers_keep_the_defaults(demo_data):
    tiny = validation_data(demo_data, holdout_fraction=0.0005, **SERVING_ROWS)

    assert tiny is None


def test_the_live_half_life_is_chosen_on_validation_rows_rebuilt_for_each_trial(
    demo_data, settings
):
    # Planted tastes last: a shopper's older events predict as well as the latest session.
    settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS = 1.0
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    defaults = Configuration({"regularization": 3_000.0}, 90.0)
    space = {"realtime_half_life_hours": {"type": "float", "low": 1.0, "high": 1e5, "log": True}}

    result = tune(
        "ease",
        validation=validation,
        defaults=defaults,
        budget_seconds=0,
        warm_start={"regularization": 3_000.0, "realtime_half_life_hours": 1e5},
        space=space,
    )

    hours = [t["params"]["realtime_half_life_hours"] for t in result.trials]
    assert hours == [1.0, 1e5]  # the setting first, then the warm start
    assert result.trials[1]["ndcg"] > result.trials[0]["ndcg"]
    assert result.chosen.realtime_half_life_hours == 1e5
    assert result.chosen.as_dict()["realtime_half_life_hours"] == 1e5
    assert validation.rows_with_half_life(1e5) is not validation.score_rows


def test_the_training_matrix_transform_is_searched_and_the_better_one_kept(demo_data):
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    defaults = Configuration({"regularization": 3_000.0}, 90.0)
    space = {"matrix_transform": {"type": "choice", "values": ["weighted", "log1p", "binary"]}}

    result = tune(
        "ease",
        validation=validation,
        defaults=defaults,
        budget_seconds=0,
        warm_start={"regularization": 3_000.0, "matrix_transform": "binary"},
        space=space,
    )

    by_transform = {t["params"]["matrix_transform"]: t["ndcg"] for t in result.trials}
    assert set(by_transform) == {"weighted", "binary"}  # the default first, then warm start
    assert by_transform["weighted"] != pytest.approx(by_transform["binary"], abs=1e-6)
    best = max(by_transform, key=by_transform.get)
    assert result.chosen.matrix_transform == best
    assert result.score == pytest.approx(by_transform[best], abs=1e-6)


def test_the_first_searched_trial_is_the_best_known_one_on_long_damped_live_rows(demo_data):
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    space = {
        "regularization": {"type": "float", "low": 50.0, "high": 2e6, "log": True},
        "realtime_half_life_hours": {"type": "float", "low": 6.0, "high": 1e5, "log": True},
        "realtime_row_log1p": {"type": "choice", "values": [False, True]},
    }

    result = tune(
        "ease",
        validation=validation,
        defaults=Configuration({"regularization": 3_000.0}, 90.0),
        budget_seconds=3_600,
        max_trials=1,
        space=space,
    )

    assert len(result.trials) == 2
    searched = result.trials[1]["params"]
    assert searched == {
        "regularization": 3_000.0,
        "realtime_half_life_hours": 2160.0,
        "realtime_row_log1p": True,
    }


def test_the_penalty_is_swept_on_the_best_trials_fitted_model_and_near_ties_go_wider(
    demo_data, settings, monkeypatch
):
    from recommender.training import trials

    fitted: list[Configuration] = []
    fit = trials.fit_isolated

    def recording_fit(algorithm, configuration, **kwargs):
        fitted.append(configuration)
        return fit(algorithm, configuration, **kwargs)

    monkeypatch.setattr(trials, "fit_isolated", recording_fit)
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    space = {
        "regularization": {"type": "float", "low": 50.0, "high": 5_000.0, "log": True},
        "popularity_penalty": {"type": "sweep", "values": [0.0, 0.2, 0.4]},
    }

    def search(tolerance: float) -> TuningResult:
        settings.SHELFWISE_COVERAGE_TIE_TOLERANCE = tolerance
        return tune(
            "ease",
            validation=validation,
            defaults=Configuration({"regularization": 500.0}, 90.0, matrix_transform="binary"),
            budget_seconds=3_600,
            max_trials=2,
            space=space,
        )

    strict, tied = search(0.0), search(1.0)  # 1.0: every trial counts as tied

    searched, swept = strict.trials[:3], strict.trials[3:]
    best = max(searched, key=lambda t: (t["ndcg"], -t["number"]))
    assert [t["params"]["popularity_penalty"] for t in swept] == [0.2, 0.4]
    assert all(t["params"]["regularization"] == best["params"]["regularization"] for t in swept)
    assert all("popularity_penalty" not in t["params"] for t in searched)  # TPE never samples it
    # Both steps on the best trial's own fit, kept from its trial: no fit carried a penalty.
    assert len(fitted) >= 4 and all(c.popularity_penalty is None for c in fitted)
    assert swept[1]["coverage"] > swept[0]["coverage"] > best["coverage"]
    top = max(strict.trials, key=lambda t: (t["ndcg"], -t["number"]))
    assert strict.chosen.popularity_penalty == top["params"].get("popularity_penalty")
    widest = max(tied.trials, key=lambda t: (t["coverage"], t["ndcg"], -t["number"]))
    assert widest["params"].get("popularity_penalty") == 0.4
    assert tied.chosen.popularity_penalty == 0.4
    assert tied.chosen.params["regularization"] == widest["params"]["regularization"]


def _fit_item_knn(data: TrainingData, *, chosen: Configuration, defaults: Configuration):
    (fitted,), left_out = fit_algorithms(
        ["item_knn"],
        configurations={"item_knn": chosen},
        defaults={"item_knn": defaults},
        data=data,
        whole=None,
        progress=lambda _percent, _stage: None,
        percent=(0, 100),
        log_label="test",
        compare_champions=False,
    )
    assert not left_out
    return fitted


def test_a_tuned_configuration_serves_only_when_it_beats_its_defaults_on_the_holdout(demo_data):
    # One neighbour per product: a configuration a search could pick on a lucky window.
    narrow = Configuration({"similarity": "cosine", "k_neighbors": 1}, 90.0)
    usual = Configuration({"similarity": "cosine", "k_neighbors": 200}, 90.0)

    from_narrow = _fit_item_knn(demo_data, chosen=narrow, defaults=usual)
    from_usual = _fit_item_knn(demo_data, chosen=usual, defaults=narrow)

    narrow_score = from_narrow.metrics["holdout_ndcg@10_tuned"]
    usual_score = from_narrow.metrics["holdout_ndcg@10_defaults"]
    assert usual_score > narrow_score  # the planted shop tells them apart
    assert from_narrow.configuration == usual and from_narrow.metrics["tuned_kept"] == 0.0
    assert from_narrow.metrics["ndcg@10"] == usual_score  # the defaults' own model serves
    assert from_usual.configuration == usual and from_usual.metrics["tuned_kept"] == 1.0
    assert from_usual.metrics["ndcg@10"] == pytest.approx(usual_score)


def test_a_configuration_equal_to_its_defaults_is_fitted_once(demo_data):
    usual = Configuration({"similarity": "cosine", "k_neighbors": 200}, 90.0)

    fitted = _fit_item_knn(
        demo_data, chosen=usual, defaults=Configuration(dict(usual.params), 90.0)
    )

    assert "tuned_kept" not in fitted.metrics and "check_defaults_seconds" not in fitted.metrics


def test_a_search_that_kept_the_defaults_spelt_out_is_not_fitted_twice(demo_data, settings):
    # What a search returns when its defaults trial wins: every searched setting written out
    # at the value the configured defaults leave unset.
    usual = Configuration({"similarity": "cosine", "k_neighbors": 200}, 90.0)
    spelt_out = Configuration(
        dict(usual.params),
        90.0,
        realtime_half_life_hours=settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS,
        realtime_row_log1p=False,
        matrix_transform="weighted",
    )
    longer = Configuration(
        dict(usual.params), 90.0, realtime_half_life_hours=2 * spelt_out.realtime_half_life_hours
    )

    fitted = _fit_item_knn(demo_data, chosen=spelt_out, defaults=usual)
    assert "tuned_kept" not in fitted.metrics and "check_defaults_seconds" not in fitted.metrics
    # A setting that does differ is still checked against the defaults.
    assert "tuned_kept" in _fit_item_knn(demo_data, chosen=longer, defaults=usual).metrics


class _SlowWhenReversed(Scripted):
    """Fits in ``sleep_seconds`` as configured, in a minute when a search reverses it."""

    def fit(self, user_items):
        if self.reverse:
            time.sleep(60)
        return super().fit(user_items)


@pytest.fixture
def slow_search(monkeypatch, settings, demo_data):
    """``tune`` of the algorithm above, in child processes, trials stopped after 1 s at least."""
    from recommender.core import ALGORITHMS
    from recommender.training import tuning

    settings.SHELFWISE_FIT_ISOLATION = True
    monkeypatch.setitem(ALGORITHMS, Scripted.name, _SlowWhenReversed)
    monkeypatch.setattr(tuning, "MIN_TRIAL_SECONDS", 1.0)
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)

    def search(*, sleep_seconds: float, budget_seconds: float) -> TuningResult:
        return tune(
            "scripted",
            validation=validation,
            defaults=Configuration({"sleep_seconds": sleep_seconds, "reverse": False}, 90.0),
            budget_seconds=budget_seconds,
            max_trials=1,
            space={"reverse": {"type": "choice", "values": [False, True]}},
        )

    return search


def test_a_known_configuration_fits_to_the_end_past_its_share(slow_search):
    # The defaults are the result's floor: 2 s of fitting on a share of half a second.
    result = slow_search(sleep_seconds=2.0, budget_seconds=0.5)

    assert [t["state"] for t in result.trials] == ["complete"]
    assert result.score is not None and result.chosen.params["reverse"] is False


def test_a_searched_trial_past_its_share_is_stopped_and_the_floor_kept(slow_search):
    started = time.perf_counter()
    result = slow_search(sleep_seconds=0.0, budget_seconds=2.0)

    assert time.perf_counter() - started < 20  # not the searched trial's minute
    assert [t["state"] for t in result.trials] == ["complete", "fail"]
    assert result.chosen.params["reverse"] is False and result.score is not None
    assert "timed out after" in result.note


def test_among_near_ties_the_configuration_showing_more_of_the_catalog_is_preferred():
    # (NDCG, coverage): the second is within 2 % of the best and shows twice the catalog.
    scores = [(0.100, 0.10), (0.099, 0.20), (0.090, 0.40)]

    assert preferred(scores, tolerance=0.02) == 1
    assert preferred(scores, tolerance=0.0) == 0  # no tolerance: the best NDCG alone
    assert preferred(scores, tolerance=0.2) == 2
    assert preferred([(0.1, 0.3), (0.1, 0.3)], tolerance=0.02) == 0  # a full tie: the first
    assert preferred([(0.0, 0.1), (0.0, 0.5)], tolerance=0.02) == 1
    with pytest.raises(ValueError):
        preferred([], tolerance=0.02)


def test_every_trial_records_its_coverage_and_near_ties_go_to_the_wider_one(demo_data, settings):
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)
    defaults = Configuration({"similarity": "cosine", "k_neighbors": 20}, 90.0)
    wide = {"similarity": "cosine", "k_neighbors": 200, "half_life_days": 90.0}

    def search(tolerance: float):
        settings.SHELFWISE_COVERAGE_TIE_TOLERANCE = tolerance
        return tune(
            "item_knn", validation=validation, defaults=defaults, budget_seconds=0, warm_start=wide
        )

    strict, tied = search(0.0), search(1.0)  # 1.0: every trial counts as tied

    by_k = {t["params"]["k_neighbors"]: t for t in strict.trials}
    assert set(by_k) == {20, 200} and all(0.0 < t["coverage"] <= 1.0 for t in by_k.values())
    assert by_k[20]["ndcg"] != by_k[200]["ndcg"]
    assert by_k[20]["coverage"] != by_k[200]["coverage"]
    best = max(by_k, key=lambda n: by_k[n]["ndcg"])
    widest = max(by_k, key=lambda n: by_k[n]["coverage"])
    assert best != widest  # the planted shop: the wider list scores lower
    assert strict.chosen.params["k_neighbors"] == best
    assert tied.chosen.params["k_neighbors"] == widest
    assert tied.as_record()["validation_coverage"] == by_k[widest]["coverage"]
    assert tied.score == pytest.approx(by_k[widest]["ndcg"], abs=1e-6)


def test_ease_is_fitted_on_the_binary_matrix_unless_tuned_otherwise(demo_data):
    (ease,) = default_configurations(["ease"], params={"ease": {"regularization": 500.0}}).values()
    validation = validation_data(demo_data, holdout_fraction=0.1, **SERVING_ROWS)

    result = tune("ease", validation=validation, defaults=ease, budget_seconds=0)

    assert ease.matrix_transform == "binary"
    assert result.trials[0]["params"]["matrix_transform"] == "binary"
    # Other algorithms keep the weighted cells as built.
    (knn,) = default_configurations(["item_knn"], params={}).values()
    assert knn.matrix_transform is None


def test_a_tuned_configuration_tied_with_its_defaults_serves_when_it_shows_more(
    demo_data, settings
):
    narrow = Configuration({"similarity": "cosine", "k_neighbors": 1}, 90.0)
    usual = Configuration({"similarity": "cosine", "k_neighbors": 200}, 90.0)
    # Each fitted alone (equal to its defaults: no comparison) for its own holdout figures.
    alone = {
        "narrow": _fit_item_knn(demo_data, chosen=narrow, defaults=narrow).metrics,
        "usual": _fit_item_knn(demo_data, chosen=usual, defaults=usual).metrics,
    }
    assert alone["usual"]["ndcg@10"] > alone["narrow"]["ndcg@10"]
    assert alone["usual"]["coverage"] != alone["narrow"]["coverage"]
    wider = narrow if alone["narrow"]["coverage"] > alone["usual"]["coverage"] else usual
    settings.SHELFWISE_COVERAGE_TIE_TOLERANCE = 0.0

    strict = _fit_item_knn(demo_data, chosen=narrow, defaults=usual)
    settings.SHELFWISE_COVERAGE_TIE_TOLERANCE = 1.0  # every pair ties: coverage decides
    tied = _fit_item_knn(demo_data, chosen=narrow, defaults=usual)

    assert strict.configuration == usual  # the better NDCG, as before
    assert tied.configuration == wider
    assert tied.metrics["tuned_kept"] == (1.0 if wider is narrow else 0.0)


def test_a_search_keeps_a_small_best_fit_beside_the_latest_and_never_two_large_ones(monkeypatch):
    import numpy as np
    import scipy.sparse as sp

    from recommender.core import EASE
    from recommender.core.matrix import IdIndex
    from recommender.training import trials

    matrix = sp.csr_matrix(np.eye(4, dtype=np.float32))
    model, items = EASE(regularization=1.0).fit(matrix), IdIndex([1, 2, 3, 4])
    best, other = (Configuration({"regularization": r}, 90.0) for r in (1.0, 9.0))
    penalised = Configuration({"regularization": 1.0}, 90.0, popularity_penalty=0.2)

    def keep(fits: trials.Fits, configuration: Configuration, ndcg: float) -> None:
        assert fits.find(configuration) is None  # nothing kept fits it: fitted
        fits.keep(configuration, trials.Scored(ndcg, 0.5, model, items, 1.0, 0.1))

    small = trials.Fits()
    keep(small, best, 0.2)
    keep(small, other, 0.1)
    assert small.find(penalised) == (model, items)  # the best's fit, kept beside the latest
    assert small.holds(other)

    monkeypatch.setattr(trials, "HELD_BYTES", 0)  # every model counts as large
    large = trials.Fits()
    keep(large, best, 0.2)
    assert large.holds(penalised)  # still the latest
    keep(large, other, 0.1)
    assert not large.holds(penalised) and large.holds(other)
