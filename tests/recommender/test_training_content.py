"""Training the content model: a catalog-wide feature index, versioned beside the others."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from catalog.models import Category, Product
from recommender.artifacts import load_model, load_support
from recommender.models import TrainingRun
from recommender.selectors import champion_version
from recommender.training.services import resolve_algorithms, run_training, start_training

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def train(*algorithms: str) -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND, algorithms=list(algorithms), enqueue=False
    )
    return run_training(run_id=run.pk)


@pytest.fixture
def new_products(shop) -> list[Product]:
    """Two lanterns nobody has looked at yet, and one retired product nobody will see."""
    garden = Category.objects.create(name="Garden", slug="garden-new")
    fresh = Product.objects.bulk_create(
        [
            Product(
                sku="LANT-1",
                title="Solar garden lantern",
                price=Decimal("19.00"),
                category=garden,
                description="Warm light for the patio.",
            ),
            Product(
                sku="LANT-2",
                title="Hanging garden lantern",
                price=Decimal("24.00"),
                category=garden,
                brand="Lumo",
            ),
        ]
    )
    Product.objects.create(sku="GONE-1", title="Retired lantern", price=5, is_active=False)
    return fresh


def test_content_is_trained_by_default(settings):
    settings.SHELFWISE_TRAINING_ALGORITHMS = ["item_knn", "content"]

    names = resolve_algorithms(None)

    assert "content" in names


def test_training_stores_a_content_version_covering_products_without_events(shop, new_products):
    _, products = shop

    run = train("content", "item_knn")

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = champion_version(algorithm="content")
    model, items, users = load_model(version)
    active_pks = set(Product.objects.filter(is_active=True).values_list("pk", flat=True))
    assert set(items.ids.tolist()) == active_pks
    assert {p.pk for p in new_products} <= set(items.ids.tolist())
    assert model.n_items == len(items) == version.n_items == len(products) + 2
    assert version.metrics["items_without_events"] == 2
    assert version.metrics["catalog_items"] == len(items)
    behavioural = champion_version(algorithm="item_knn")
    assert behavioural.n_items == len(products)
    assert len(users) == behavioural.n_users


def test_the_content_model_answers_a_search_for_a_product_without_events(shop, new_products):
    train("content")
    model, items, _ = load_model(champion_version(algorithm="content"))

    ids, scores = model.search("lantern", n=5)

    found = {int(items.ids[i]) for i, s in zip(ids, scores, strict=True) if i >= 0 and s > 0}
    assert found == {p.pk for p in new_products}


def test_a_product_with_history_keeps_it_in_the_content_artifact_even_when_inactive(shop):
    _, products = shop
    Product.objects.filter(pk=products[0].pk).update(is_active=False)

    train("content")

    _model, items, _ = load_model(champion_version(algorithm="content"))
    assert products[0].pk in set(items.ids.tolist())


def test_support_counts_distinct_training_shoppers_and_zero_for_new_products(shop, new_products):
    train("content", "item_knn")

    content = champion_version(algorithm="content")
    _, items, _ = load_model(content)
    support = load_support(content.artifact)
    knn = champion_version(algorithm="item_knn")
    _, knn_items, _ = load_model(knn)
    knn_support = load_support(knn.artifact)

    new_rows = items.to_index(np.array([p.pk for p in new_products]))
    assert support[new_rows].tolist() == [0, 0]
    shared = items.to_index(knn_items.ids)
    assert np.array_equal(support[shared], knn_support)
    assert knn_support.min() >= 1


def test_a_content_version_is_promoted_even_when_the_ndcg_rule_would_refuse_it(
    settings, shop, new_products
):
    first = train("content")
    champion = champion_version(algorithm="content")
    # A bar 50 % above the champion: the behavioural rule would keep the champion.
    settings.SHELFWISE_PROMOTION_TOLERANCE = -0.5

    second = train("content")

    assert first.status == second.status == TrainingRun.Status.SUCCEEDED
    latest = champion_version(algorithm="content")
    assert latest.run == second and latest.pk != champion.pk
    assert latest.reason.startswith("Promoted: content index of 32 catalog products")
    assert "recorded for information" in latest.reason
    assert "ndcg@10" in latest.metrics and latest.metrics["champion_version"] == champion.pk


def test_the_content_index_is_fitted_once_on_the_whole_window(shop, settings):
    settings.SHELFWISE_REFIT_WHOLE_WINDOW = True

    run = train("content", "item_knn")

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    content, behavioural = (
        champion_version(algorithm="content"),
        champion_version(algorithm="item_knn"),
    )
    # Its fit reads no event, so nothing of the holdout leaks into the score it is given.
    assert "refit_seconds" not in content.metrics and content.metrics["fit_seconds"] >= 0
    assert "refit_seconds" in behavioural.metrics
    # Saved with the whole window's shoppers, as the refitted models are.
    assert content.n_users == behavioural.n_users == run.n_shoppers
    assert np.isfinite(content.metrics["ndcg@10"])
