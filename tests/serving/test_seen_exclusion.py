"""For you is discovery: a product the shopper already touched is not served back to them, for
a shopper with a long history too. With only the latest 50 events read, a shopper past 50 views
was shown products they had viewed before (bench/README.md "Stop 21": 7 % of new-product NDCG
on the fashion demo's training holdout)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product
from recommender.core import ItemKNN
from recommender.core.matrix import IdIndex
from recommender.serving.model_cache import ServingModel
from recommender.serving.service import recommend

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
VIEWED, FRESH = 150, 10


def _served(k: int = FRESH) -> set[str]:
    category = Category.objects.create(name="All", slug="all")
    skus = [f"V{n}" for n in range(VIEWED)] + [f"N{n}" for n in range(FRESH)]
    products = [
        Product.objects.create(sku=sku, title=sku, price=Decimal("5.00"), category=category)
        for sku in skus
    ]
    # Every product shares shoppers with every other: each scores above zero for anyone.
    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((300, len(skus))) < 0.3).astype(np.float32))
    model = ItemKNN(similarity="cosine", k_neighbors=len(skus)).fit(matrix)
    shopper = Shopper.objects.create(external_id="long-history")
    Event.objects.bulk_create(
        Event(
            event_id=f"view-{n}",
            shopper=shopper,
            product=products[n],
            kind=EventKind.VIEW,
            occurred_at=NOW - timedelta(hours=VIEWED - n),
        )
        for n in range(VIEWED)
    )
    served = ServingModel(
        version_id=-1,
        uuid="knn",
        algorithm="item_knn",
        model=model,
        items=IdIndex([p.pk for p in products]),
        ndcg=0.5,
    )
    result = recommend(
        shopper="long-history",
        slot="for_you",
        k=k,
        now=NOW,
        models={"item_knn": served},
        serving_model="item_knn",
    )
    return {item.product.sku for item in result.items}


def test_a_shopper_with_150_views_is_served_only_products_they_never_touched():
    assert _served() == {f"N{n}" for n in range(FRESH)}


def test_with_only_the_latest_50_events_read_older_views_came_back(settings):
    settings.SHELFWISE_RECENT_EVENTS = 50

    served = _served()

    assert any(sku.startswith("V") for sku in served)
    # Only views older than the latest 50 come back.
    assert all(int(sku[1:]) < VIEWED - 50 for sku in served if sku.startswith("V"))
