"""Buy again ranks a shopper's own purchases by time-decayed frequency (core.repeat)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from behavior.models import Event, EventKind, Shopper
from recommender.serving.service import recommend
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper_with_history():
    """ "old" bought four times 300 days ago, "recent" once two days ago, "never" not at all."""
    now = timezone.now()
    old, recent, _never = (ProductFactory(sku=sku) for sku in ("OLD", "RECENT", "NEVER"))
    shopper = Shopper.objects.create(external_id="repeat-1")
    bought = [(old, now - timedelta(days=300, minutes=n)) for n in range(4)]
    bought.append((recent, now - timedelta(days=2)))
    Event.objects.bulk_create(
        Event(
            event_id=f"buy-{n}",
            shopper=shopper,
            product=product,
            kind=EventKind.PURCHASE,
            order_id=f"o-{n}",
            occurred_at=at,
        )
        for n, (product, at) in enumerate(bought)
    )
    return now


def _served(now) -> list[tuple[str, float]]:
    served = recommend(shopper="repeat-1", slot="buy_again", k=5, now=now)
    return [(item.product.sku, item.score) for item in served.items]


def test_a_short_half_life_serves_the_latest_purchase_first(shopper_with_history, settings):
    settings.SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS = 30

    served = _served(shopper_with_history)

    assert [sku for sku, _score in served] == ["RECENT", "OLD"]
    # 2 days at a 30-day half-life; four purchases 10 half-lives old.
    assert served[0][1] == pytest.approx(2 ** (-2 / 30), rel=1e-3)
    assert served[1][1] == pytest.approx(4 * 2**-10, rel=1e-3)


def test_a_long_half_life_serves_the_most_frequent_purchase_first(shopper_with_history, settings):
    settings.SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS = 3650

    served = _served(shopper_with_history)

    assert [sku for sku, _score in served] == ["OLD", "RECENT"]


def test_a_cached_history_is_rescored_at_the_later_clock(shopper_with_history, settings):
    settings.SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS = 30
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    _served(shopper_with_history)

    later = _served(shopper_with_history + timedelta(days=30))

    assert later[0] == ("RECENT", pytest.approx(2 ** (-32 / 30), rel=1e-3))


def test_sqlite_s_summed_purchases_equal_postgresql_s_aggregate(shopper_with_history):
    # The embedded demo's SQLite cannot run the aggregate's date arithmetic: it sums the same
    # figures in numpy. Both, on the same purchases, agree.
    from behavior.selectors import _aggregated_purchases, _summed_purchases

    bought = Event.objects.filter(shopper__external_id="repeat-1", kind=EventKind.PURCHASE)
    reference, rate = shopper_with_history.timestamp(), 0.693 / (30 * 86_400)

    in_sql = _aggregated_purchases(bought, reference=reference, rate=rate)
    in_numpy = _summed_purchases(bought, reference=reference, rate=rate)

    order = in_sql[0].argsort()
    for ours, theirs in zip(in_numpy, (part[order] for part in in_sql), strict=True):
        assert ours == pytest.approx(theirs, rel=1e-9)
