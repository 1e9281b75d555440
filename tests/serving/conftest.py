"""A small shop with three taste groups, a trained item-kNN champion and an API token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from rest_framework.test import APIClient

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product
from recommender.serving.catalog_state import forget_catalog
from recommender.serving.model_cache import forget_models
from recommender.serving.trending import forget_trending
from recommender.training.services import run_training, start_training
from tests.conftest import api_client

NEWEST = datetime(2011, 12, 9, 12, 0, tzinfo=UTC)
GROUPS = ("mugs", "plates", "garden")
PER_GROUP = 10


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings, tmp_path):
    """Each test loads champions and the catalog anew, and checks them on every request."""
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 0
    settings.MEDIA_ROOT = str(tmp_path / "media")
    forget_models()
    forget_catalog()
    forget_trending()
    yield
    forget_models()
    forget_catalog()
    forget_trending()


@pytest.fixture
def api() -> APIClient:
    return api_client()


def build_shop(*, seed: int = 3, n_shoppers: int = 90, n_events: int = 2700) -> dict:
    """Three categories of ten products; each shopper browses mostly one category.

    Shoppers in taste group g touch products of category g 90 % of the time, so item-kNN
    neighbours of a product are (mostly) its own category.
    """
    rng = np.random.default_rng(seed)
    categories = [Category.objects.create(name=g.title(), slug=g) for g in GROUPS]
    products = Product.objects.bulk_create(
        Product(
            sku=f"{g[:3].upper()}-{i}",
            title=f"{g.title()[:-1]} {i}",
            price=Decimal("10.00"),
            category=categories[c],
            points_price=500 * (i + 1),
        )
        for c, g in enumerate(GROUPS)
        for i in range(PER_GROUP)
    )
    countries = ("DE", "FR", "GB")
    shoppers = Shopper.objects.bulk_create(
        Shopper(external_id=f"s-{i}", country=countries[i % 3]) for i in range(n_shoppers)
    )
    events = []
    for n in range(n_events):
        shopper = int(rng.integers(n_shoppers))
        group = shopper % 3 if rng.random() < 0.9 else int(rng.integers(3))
        product = products[group * PER_GROUP + int(rng.integers(PER_GROUP))]
        kind = EventKind.PURCHASE if rng.random() < 0.2 else EventKind.VIEW
        events.append(
            Event(
                event_id=f"seed-{n}",
                shopper=shoppers[shopper],
                product=product,
                kind=kind,
                occurred_at=NEWEST - timedelta(minutes=int(rng.integers(60 * 24 * 60))),
                order_id=f"o-{shopper}-{n // 3}" if kind == EventKind.PURCHASE else "",
            )
        )
    Event.objects.bulk_create(events)
    return {"products": products, "shoppers": shoppers, "categories": categories}


def train(*algorithms: str) -> None:
    run = start_training(triggered_by="command", algorithms=list(algorithms), enqueue=False)
    finished = run_training(run_id=run.pk)
    assert finished.status == "succeeded", finished.error


@pytest.fixture
def shop(db) -> dict:
    return build_shop()


@pytest.fixture
def trained_shop(shop) -> dict:
    train("item_knn", "popularity", "trending")
    return shop
