"""A shop's tuned popularity penalty reaches the served "for you": each personal score divided
by the product's training shoppers to the power β, so the long tail gets its turn; at β 0 the
list is the model's own ranking, as before the penalty existed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product
from recommender.core import EASE
from recommender.core.matrix import IdIndex
from recommender.models import ModelVersion
from recommender.serving.model_cache import ServingModel, champion_models
from recommender.serving.service import recommend
from recommender.training import tuning
from tests.serving.conftest import NEWEST, train

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SKUS = ("A", "POPULAR", "NICHE", "F")


def _planted() -> tuple[EASE, IdIndex, np.ndarray]:
    """A bought with POPULAR by 10 shoppers and with NICHE by 6; 30 more bought POPULAR alone.

    EASE scores POPULAR 0.84 and NICHE 0.41 for a shopper of A; their shoppers are 40 and 6.
    """
    category = Category.objects.create(name="All", slug="all")
    products = [
        Product.objects.create(sku=sku, title=sku, price=Decimal("5.00"), category=category)
        for sku in SKUS
    ]
    items = IdIndex([p.pk for p in products])
    baskets = [(0, 1)] * 10 + [(0, 2)] * 6 + [(1,)] * 30 + [(3,)] * 2
    rows = [row for row, basket in enumerate(baskets) for _ in basket]
    cols = [item for basket in baskets for item in basket]
    matrix = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(baskets), 4))
    shopper = Shopper.objects.create(external_id="s-1")
    Event.objects.create(
        event_id="bought-a",
        shopper=shopper,
        product=products[0],
        kind=EventKind.PURCHASE,
        order_id="o-1",
        occurred_at=NOW - timedelta(hours=1),
    )
    support = np.bincount(matrix.indices, minlength=4)
    return EASE(regularization=1.0).fit(matrix), items, support


def _served(model: EASE, items: IdIndex, support: np.ndarray, beta: float) -> ServingModel:
    return ServingModel(
        version_id=-1,
        uuid="planted-ease",
        algorithm="ease",
        model=model,
        items=items,
        ndcg=0.5,
        support=support,
        popularity_penalty=beta,
    )


def _for_you(served: ServingModel, shopper: str = "s-1", *, now: datetime = NOW, k: int = 3):
    result = recommend(
        shopper=shopper, slot="for_you", k=k, now=now, models={"ease": served}, serving_model="ease"
    )
    return [(item.product.sku, item.score) for item in result.items if item.source == "ease@v-1"]


def test_a_penalised_model_serves_the_niche_neighbour_before_the_popular_one():
    model, items, support = _planted()

    unpenalised = [sku for sku, _ in _for_you(_served(model, items, support, 0.0))]
    penalised = [sku for sku, _ in _for_you(_served(model, items, support, 0.5))]

    assert unpenalised[:2] == ["POPULAR", "NICHE"]
    assert penalised[:2] == ["NICHE", "POPULAR"]  # 0.84 / 40^0.5 = 0.13 < 0.41 / 6^0.5 = 0.17


def test_without_a_penalty_the_list_is_the_models_own_ranking_as_before():
    model, items, support = _planted()
    ids, scores = model.recommend_from_items(np.array([0]), np.array([1.0]), n=3, exclude=[0])
    own = [(SKUS[i], s) for i, s in zip(ids.tolist(), scores.tolist(), strict=True) if s > 0]

    served = _for_you(_served(model, items, support, 0.0))
    without_support = _for_you(_served(model, items, None, 0.3))  # an artifact without support

    assert [sku for sku, _ in served] == [sku for sku, _ in own] == ["POPULAR", "NICHE"]
    # The scores up to the purchase's live weight: the model's own, undiscounted.
    weight = served[0][1] / own[0][1]
    assert [s for _, s in served] == pytest.approx([weight * s for _, s in own], rel=1e-6)
    assert served == without_support


def _long_tailed_shop(*, n_products: int = 200, n_shoppers: int = 150, seed: int = 5) -> list[str]:
    """Four taste groups of 50 products, each group's sales Zipf-distributed, so a ranking by
    co-occurrence keeps returning each group's head. Returns the shoppers' external ids."""
    rng = np.random.default_rng(seed)
    category = Category.objects.create(name="All", slug="all")
    products = Product.objects.bulk_create(
        Product(sku=f"P-{i}", title=f"P {i}", price=Decimal("5.00"), category=category)
        for i in range(n_products)
    )
    per_group = n_products // 4
    zipf = 1.0 / np.arange(1, per_group + 1)
    zipf /= zipf.sum()
    shoppers = Shopper.objects.bulk_create(Shopper(external_id=f"s-{i}") for i in range(n_shoppers))
    events = []
    for number, shopper in enumerate(rng.integers(n_shoppers, size=20 * n_shoppers).tolist()):
        group = shopper % 4 if rng.random() < 0.9 else int(rng.integers(4))
        product = products[group * per_group + int(rng.choice(per_group, p=zipf))]
        events.append(
            Event(
                event_id=f"e-{number}",
                shopper=shoppers[shopper],
                product=product,
                kind=EventKind.PURCHASE,
                order_id=f"o-{number}",
                occurred_at=NEWEST - timedelta(minutes=int(rng.integers(60 * 24 * 60))),
            )
        )
    Event.objects.bulk_create(events)
    return [s.external_id for s in shoppers]


def test_the_penalty_a_search_chose_is_versioned_and_changes_the_served_list(settings, monkeypatch):
    shoppers = _long_tailed_shop()
    # The penalty alone is searched, swept over two values; every pair ties, so the wider
    # list wins, on validation and against the defaults on the holdout.
    space = {"item_knn": {"popularity_penalty": {"type": "sweep", "values": [0.0, 0.4]}}}
    monkeypatch.setattr(tuning, "search_spaces", lambda: space)
    settings.SHELFWISE_TUNING_BUDGET_SECONDS = 4
    settings.SHELFWISE_COVERAGE_TIE_TOLERANCE = 1.0

    train("item_knn")

    version = ModelVersion.objects.get(algorithm="item_knn")
    assert version.params["popularity_penalty"] == 0.4
    assert version.metrics["tuned_kept"] == 1.0
    served = champion_models()["item_knn"]
    assert served.popularity_penalty == 0.4 and served.support is not None
    unpenalised = replace(served, popularity_penalty=0.0, _discount=None)

    def lists(model: ServingModel) -> list[list[str]]:
        out = []
        for shopper in shoppers[:20]:
            result = recommend(
                shopper=shopper,
                slot="for_you",
                k=10,
                now=NEWEST,
                models={"item_knn": model},
                serving_model="item_knn",
            )
            out.append([item.product.sku for item in result.items])
        return out

    penalised, before = lists(served), lists(unpenalised)
    assert penalised != before
    # More of the catalogue shown to the same shoppers.
    assert len({sku for skus in penalised for sku in skus}) > len(
        {sku for skus in before for sku in skus}
    )
