"""A training run with SHELFWISE_TRAINER=spark versions its models like any run, and the Spark
ALS serves "for you" through the normal serving path."""

from __future__ import annotations

import pytest

from recommender.artifacts import load_model
from recommender.core import ALGORITHMS
from recommender.models import ModelVersion, TrainingRun
from recommender.serving.model_cache import forget_models
from recommender.serving.service import recommend
from recommender.training.services import run_training, start_training
from tests.serving.conftest import NEWEST, PER_GROUP, build_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings, tmp_path) -> dict:
    """The serving tests' three-category shop, champions loaded afresh on every request."""
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    forget_models()
    yield build_shop()
    forget_models()


def train_on_spark() -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["popularity", "item_knn", "als"],
        params={"als": {"factors": 8, "iterations": 5, "alpha": 1.0}},
        enqueue=False,
    )
    return run_training(run_id=run.pk)


def test_a_run_on_spark_versions_als_and_item_knn_beside_the_numpy_models(spark_trainer, shop):
    run = train_on_spark()

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    champions = {v.algorithm: v for v in ModelVersion.objects.champions()}
    assert sorted(champions) == ["als", "item_knn", "popularity"]
    for name in ("als", "item_knn"):
        version = champions[name]
        assert version.run == run and version.metrics["ndcg@10"] > 0
        assert version.metrics["spark_fit_seconds"] > 0
        model, items, users = load_model(version)
        assert type(model) is ALGORITHMS[name] and model.n_items == len(items)
        assert len(users) == version.n_users
    assert "spark_fit_seconds" not in champions["popularity"].metrics


def test_the_spark_als_serves_for_you_from_the_shoppers_own_category(spark_trainer, shop, settings):
    settings.SHELFWISE_DIVERSITY_MAX_SHARE = 1.0  # no cap per category: the model's own order
    assert train_on_spark().status == TrainingRun.Status.SUCCEEDED
    shopper = shop["shoppers"][0]  # taste group 0: mugs, 90 % of its events
    mugs = {p.sku for p in shop["products"][:PER_GROUP]}

    result = recommend(shopper=shopper, slot="for_you", k=5, now=NEWEST, serving_model="als")

    assert result.model_version["algorithm"] == "als"
    from_model = [item for item in result.items if item.source.startswith("als@")]
    is_mug = [item.product.sku in mugs for item in from_model]
    # Every mug still eligible ranks above every other category's product.
    assert len(from_model) >= 3 and is_mug[0] and is_mug == sorted(is_mug, reverse=True)
