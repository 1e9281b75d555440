"""The served list weighs a shopper's live events with the half-life its model was tuned to be
scored from on this shop, not the one setting every shop shares: a model whose validation
preferred long memories keeps serving what the shopper's older history points to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product
from recommender.core import EASE
from recommender.core.matrix import IdIndex
from recommender.serving.model_cache import ServingModel
from recommender.serving.service import recommend

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _planted() -> tuple[dict[str, Product], EASE, IdIndex]:
    """Products A, X (bought together) and B, Y (bought together), and an EASE that knows it."""
    category = Category.objects.create(name="All", slug="all")
    products = {
        sku: Product.objects.create(sku=sku, title=sku, price=Decimal("5.00"), category=category)
        for sku in ("A", "X", "B", "Y", "F1", "F2")
    }
    items = IdIndex([products[sku].pk for sku in ("A", "X", "B", "Y", "F1", "F2")])
    baskets = [(0, 1)] * 20 + [(2, 3)] * 20 + [(4,), (5,)]
    rows = [row for row, basket in enumerate(baskets) for _ in basket]
    cols = [item for basket in baskets for item in basket]
    matrix = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(baskets), 6))
    return products, EASE(regularization=1.0).fit(matrix), items


def _shopper(products: dict[str, Product]) -> Shopper:
    """Bought A a month ago; viewed B an hour ago."""
    shopper = Shopper.objects.create(external_id="s-1")
    Event.objects.bulk_create(
        [
            Event(
                event_id="old-purchase",
                shopper=shopper,
                product=products["A"],
                kind=EventKind.PURCHASE,
                order_id="o-1",
                occurred_at=NOW - timedelta(days=30),
            ),
            Event(
                event_id="new-view",
                shopper=shopper,
                product=products["B"],
                kind=EventKind.VIEW,
                occurred_at=NOW - timedelta(hours=1),
            ),
        ]
    )
    return shopper


def _top(products, model, items, half_life_hours: float | None) -> str:
    served = ServingModel(
        version_id=-1,
        uuid="planted-ease",
        algorithm="ease",
        model=model,
        items=items,
        ndcg=0.5,
        realtime_half_life_hours=half_life_hours,
    )
    result = recommend(
        shopper="s-1", slot="for_you", k=1, now=NOW, models={"ease": served}, serving_model="ease"
    )
    return result.items[0].product.sku


def test_a_model_tuned_to_long_memories_is_served_from_long_memories(settings):
    settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS = 72.0
    products, model, items = _planted()
    _shopper(products)

    # At the shared 72 h the month-old purchase weighs ~0: the fresh view of B leads (to Y).
    assert _top(products, model, items, None) == "Y"
    # Tuned to ~11 years on this shop: the purchase (8 x log1p(1) against a view's 1) leads.
    assert _top(products, model, items, 100_000.0) == "X"
