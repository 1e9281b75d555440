"""Issue 13 item 4: "for you" serves the champion that wins on a shared holdout, popularity
included: a non-personalised one when it beats every personalised one there by more than the
tolerance (a near tie goes to the personalised model, whose served list gains what the holdout
does not score)."""

from __future__ import annotations

import numpy as np
import pytest

from behavior.models import Event, EventKind
from recommender.models import ModelVersion
from recommender.selectors import holdout_scores
from recommender.serving.model_cache import (
    HoldoutScore,
    ServingModel,
    champion_models,
    forget_models,
    serving_choice,
)
from recommender.serving.service import recommend
from tests.serving.conftest import NEWEST

pytestmark = pytest.mark.django_db


def _set_ndcg(algorithm: str, ndcg: float, ci95: float = 0.01) -> None:
    version = ModelVersion.objects.champions().get(algorithm=algorithm)
    version.metrics = {**version.metrics, "ndcg@10": ndcg, "ndcg@10_ci95": ci95}
    version.save(update_fields=["metrics"])
    forget_models()


class _Scores:
    """A stand-in fitted model: serving_choice reads only these two flags."""

    def __init__(self, personalized: bool) -> None:
        self.personalized = personalized
        self.needs_item_features = False


def _served(algorithm: str, version_id: int, scores: dict[str, HoldoutScore]) -> ServingModel:
    return ServingModel(
        version_id=version_id,
        uuid=str(version_id),
        algorithm=algorithm,
        model=_Scores(algorithm not in ("popularity", "trending")),
        items=None,
        ndcg=max((s.ndcg for s in scores.values()), default=None),
        scores=scores,
    )


def test_popularity_serves_for_you_when_it_beat_every_personalised_model_on_the_holdout(
    trained_shop,
):
    _set_ndcg("popularity", 0.0408)
    _set_ndcg("trending", 0.0350)
    _set_ndcg("item_knn", 0.0320)
    shopper = trained_shop["shoppers"][0]
    bought = set(
        Event.objects.filter(shopper=shopper, kind=EventKind.PURCHASE).values_list(
            "product__sku", flat=True
        )
    )

    result = recommend(shopper=shopper, slot="for_you", k=10, now=NEWEST)

    assert bought
    assert result.model_version["algorithm"] == "popularity"
    assert len(result.items) == 10
    assert {item.product.sku for item in result.items}.isdisjoint(bought)
    from_model = [item for item in result.items if item.source.startswith("popularity@")]
    assert len(from_model) >= 5
    assert {item.reason.code for item in from_model} == {"popular"}


def test_popularity_serves_only_when_it_beats_the_personalised_model_by_more_than_the_tolerance(
    trained_shop, settings
):
    settings.SHELFWISE_PROMOTION_TOLERANCE = 0.1
    _set_ndcg("popularity", 0.0430)
    _set_ndcg("trending", 0.0100)
    _set_ndcg("item_knn", 0.0400)  # behind, but within 10 %

    within = serving_choice(champion_models())
    _set_ndcg("popularity", 0.0450)  # more than 10 % ahead
    beyond = serving_choice(champion_models())
    _set_ndcg("popularity", 0.0400)
    _set_ndcg("item_knn", 0.0800)
    ahead = serving_choice(champion_models())

    assert within.model.algorithm == "item_knn"
    assert beyond.model.algorithm == "popularity"
    assert ahead.model.algorithm == "item_knn"
    assert ahead.baseline.algorithm == "popularity"
    assert ahead.ratio == pytest.approx(2.0)
    low, high = ahead.ratio_interval
    assert low < 2.0 < high


def test_the_bar_is_popularity_even_when_trending_scores_higher_on_the_holdout(
    trained_shop,
):
    # Trending's day-scale decay flatters it on the days right after its training data.
    _set_ndcg("popularity", 0.0300)
    _set_ndcg("trending", 0.0900)
    _set_ndcg("item_knn", 0.0700)

    choice = serving_choice(champion_models())

    assert choice.model.algorithm == "item_knn"
    assert choice.baseline.algorithm == "popularity"


def test_champions_are_compared_only_on_a_holdout_they_were_both_scored_on():
    # ALS scored 0.05 on an older holdout popularity never saw; on the newest one, where both
    # were scored, popularity is ahead.
    als = _served(
        "als", 3, {"old": HoldoutScore(0.05, 0.01, 1), "new": HoldoutScore(0.030, None, 2)}
    )
    popularity = _served("popularity", 4, {"new": HoldoutScore(0.041, 0.004, 2)})

    choice = serving_choice({"als": als, "popularity": popularity})

    assert choice.model is popularity
    assert choice.baseline_score.ndcg == 0.041


def test_without_a_shared_holdout_the_best_personalised_model_serves_uncompared():
    als = _served("als", 3, {"old": HoldoutScore(0.05, 0.01, 1)})
    popularity = _served("popularity", 4, {"new": HoldoutScore(0.06, 0.004, 2)})

    choice = serving_choice({"als": als, "popularity": popularity})

    assert choice.model is als
    assert choice.rule == "uncompared"
    assert choice.ratio is None


def test_a_pinned_serving_model_serves_whatever_the_holdout_says(trained_shop, settings):
    settings.SHELFWISE_SERVING_MODEL = "item_knn"
    _set_ndcg("popularity", 0.09)
    _set_ndcg("item_knn", 0.01)

    choice = serving_choice(champion_models())

    assert choice.model.algorithm == "item_knn"
    assert choice.rule == "configured"


def test_a_champion_is_scored_again_on_each_later_run_that_compared_with_it(trained_shop):
    popularity = ModelVersion.objects.champions().get(algorithm="popularity")
    later_run = popularity.run.__class__.objects.create(
        triggered_by="command",
        algorithms=["popularity"],
        stats={"holdout_fingerprint": "later/k=10/n=5000"},
    )
    ModelVersion.objects.create(
        algorithm="popularity",
        run=later_run,
        artifact=popularity.artifact,
        metrics={"ndcg@10": 0.02, "champion_ndcg@10": 0.031, "champion_version": popularity.pk},
    )

    scores = holdout_scores(version_ids=[popularity.pk])[popularity.pk]

    own = popularity.run.stats["holdout_fingerprint"]
    assert scores[own][0] == pytest.approx(popularity.metrics["ndcg@10"])
    assert scores[own][1] == pytest.approx(popularity.metrics["ndcg@10_ci95"])
    assert scores["later/k=10/n=5000"] == (0.031, None, later_run.pk)
    assert np.isfinite(scores[own][0])


def test_the_models_page_says_what_serves_for_you_and_its_ratio_to_best_sellers(
    trained_shop, client, staff_user
):
    _set_ndcg("popularity", 0.02, ci95=0.002)
    _set_ndcg("trending", 0.01)
    _set_ndcg("item_knn", 0.054, ci95=0.004)
    client.force_login(staff_user)

    page = client.get("/models/").content.decode()

    assert (
        "For you:</strong> products bought together (item-kNN), 2.7x better than best-sellers "
        "on the shoppers of the last 10% of activity (interval 2.4-3.1x)"
    ) in page


def test_the_models_page_says_best_sellers_serve_when_no_personalised_model_beat_them(
    trained_shop, client, staff_user
):
    _set_ndcg("popularity", 0.0408)
    _set_ndcg("item_knn", 0.0320)
    client.force_login(staff_user)

    page = client.get("/models/").content.decode()

    assert "For you:</strong> best-sellers: no personalised model beat them" in page
