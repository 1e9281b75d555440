"""Buy again serves the shop's TIFU-KNN model when the latest training run stored one."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from behavior.models import Event, EventKind, Shopper
from recommender.artifacts import write_repeat_artifact
from recommender.core.matrix import IdIndex
from recommender.core.repeat import RepeatModel, decayed_frequency
from recommender.models import TrainingRun
from recommender.serving.service import recommend
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings, tmp_path):
    """Shopper "me" bought OLD four times long ago and RECENT once; "twin" bought OLD and
    WEEKLY every week; POPULAR was bought by three strangers."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    now = timezone.now()
    products = {sku: ProductFactory(sku=sku) for sku in ("OLD", "RECENT", "WEEKLY", "POPULAR")}
    bought = [("me", "OLD", 300 + n) for n in range(4)] + [("me", "RECENT", 2)]
    bought += [("twin", "OLD", 40)] + [("twin", "WEEKLY", 7 * week + 1) for week in range(10)]
    bought += [(f"stranger-{n}", "POPULAR", 5) for n in range(3)]
    shoppers = {name: Shopper.objects.get_or_create(external_id=name)[0] for name, _, _ in bought}
    Event.objects.bulk_create(
        Event(
            event_id=f"buy-{n}",
            shopper=shoppers[name],
            product=products[sku],
            kind=EventKind.PURCHASE,
            order_id=f"o-{n}",
            occurred_at=now - timedelta(days=days, minutes=n),
        )
        for n, (name, sku, days) in enumerate(bought)
    )
    events = Event.objects.values_list("shopper_id", "product_id", "occurred_at")
    pks = np.array([(s, p, at.timestamp()) for s, p, at in events])
    return now, products, pks


def _store(model: RepeatModel, pks: np.ndarray, now) -> RepeatModel:
    """Fit ``model`` on every purchase and record it as the latest run's buy-again model."""
    users, items = (
        IdIndex(np.unique(pks[:, 0].astype(int))),
        IdIndex(np.unique(pks[:, 1].astype(int))),
    )
    history = decayed_frequency(
        users.to_index(pks[:, 0].astype(int)),
        items.to_index(pks[:, 1].astype(int)),
        pks[:, 2],
        now=now.timestamp(),
        half_life_days=model.half_life_days,
        shape=(len(users), len(items)),
    )
    model.fit(history)
    artifact = write_repeat_artifact(model=model, items=items, users=users)
    TrainingRun.objects.create(
        algorithms=["popularity"],
        lock_key="popularity",
        triggered_by="api",
        status=TrainingRun.Status.SUCCEEDED,
        finished_at=now,
        stats={"buy_again": {"artifact": artifact}},
    )
    return model


def _served(now) -> list[tuple[str, str]]:
    served = recommend(shopper="me", slot="buy_again", k=4, now=now)
    return [(item.product.sku, item.reason.code) for item in served.items]


def test_buy_again_serves_the_stored_model_s_list(shop):
    now, _products, pks = shop
    _store(
        RepeatModel(half_life_days=30, alpha=0.5, neighbours=1, popularity_weight=0.01), pks, now
    )

    served = _served(now)

    # Own recent purchase first, then what the most similar shopper buys every week, then the
    # old favourite (decayed to almost nothing) and the popular filler.
    assert served == [
        ("RECENT", "buy_again"),
        ("WEEKLY", "repeat_neighbours"),
        ("OLD", "buy_again"),
        ("POPULAR", "popular"),
    ]


def test_without_a_stored_model_buy_again_ranks_the_shopper_s_own_purchases(shop, settings):
    now, _products, _pks = shop
    settings.SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS = 30

    served = _served(now)

    assert [sku for sku, _code in served] == ["RECENT", "OLD"]


def test_the_model_decays_live_purchases_at_its_own_half_life(shop):
    now, _products, pks = shop
    _store(RepeatModel(half_life_days=3650, alpha=1.0, neighbours=0, popularity_weight=0), pks, now)

    served = _served(now)

    # At ten years four old purchases beat one recent one.
    assert [sku for sku, _code in served] == ["OLD", "RECENT"]
