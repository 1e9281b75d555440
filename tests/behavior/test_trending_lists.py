"""Stored trending lists rank exactly what counting the events ranks, and live requests read them
instead of counting weeks of events; a past clock, or no recent refresh, still counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from behavior.kinds import event_weights
from behavior.models import Event, Shopper, TrendingList
from behavior.trending_lists import (
    _ranked_in_one_statement,
    _ranked_one_by_one,
    refresh_trending_lists,
)
from behavior.volume_selectors import stored_trending, trending_counts
from catalog.models import Product
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

NEWEST = datetime(2024, 5, 10, 15, 30, tzinfo=UTC)
DAYS = 30
# Who lives where: blank countries and segments are shoppers the shop knows nothing about.
SHOPPERS = [
    ("GB", "vip"),
    ("GB", ""),
    ("FR", "vip"),
    ("FR", "new"),
    ("", "new"),
    ("DE", ""),
    ("", ""),
]
KINDS = ("view", "add_to_cart", "purchase", "view", "rating")


@pytest.fixture
def shop() -> list[Product]:
    products = [ProductFactory(sku=f"SKU-{n}") for n in range(9)]
    shoppers = [
        Shopper.objects.create(external_id=f"s-{n}", country=c, segment=s)
        for n, (c, s) in enumerate(SHOPPERS)
    ]
    events = []
    for n in range(260):
        shopper = shoppers[(n * 5) % len(shoppers)]
        # Skewed, and shifting by shopper, so each list ranks differently; some events fall
        # before the window and must not count.
        product = products[(n * n + shoppers.index(shopper)) % len(products) % (3 + n % 7)]
        events.append(
            Event(
                event_id=f"e-{n}",
                shopper=shopper,
                product=product,
                kind=KINDS[n % len(KINDS)],
                value=4.0 if KINDS[n % len(KINDS)] == "rating" else 1.0,
                occurred_at=NEWEST - timedelta(hours=3 * n),
            )
        )
    Event.objects.bulk_create(events)
    return products


def counted(country: str, segment: str) -> list[tuple[int, float]]:
    return trending_counts(
        country=country,
        segment=segment,
        before=None,
        days=DAYS,
        kind_weights=event_weights(),
        limit=5,
    )


def refresh(now: datetime = NEWEST) -> int:
    return refresh_trending_lists(now=now, days=DAYS, kind_weights=event_weights(), limit=5)


def stored(country: str, segment: str, *, fresher_than: datetime = NEWEST - timedelta(minutes=1)):
    return stored_trending(country=country, segment=segment, days=DAYS, fresher_than=fresher_than)


def every_list() -> list[tuple[str, str]]:
    countries = {c for c, _ in SHOPPERS if c}
    segments = {s for _, s in SHOPPERS if s}
    return [
        ("", ""),
        *((c, "") for c in countries),
        *(("", s) for s in segments),
        *((c, s) for c, s in SHOPPERS if c and s),
    ]


def test_every_stored_list_ranks_what_counting_the_events_ranks(shop):
    assert Event.objects.filter(occurred_at__lt=NEWEST - timedelta(days=DAYS)).exists()

    refresh()

    for country, segment in every_list():
        expected = counted(country, segment)
        assert expected, (country, segment)
        got = stored(country, segment)
        assert [pk for pk, _ in got] == [pk for pk, _ in expected], (country, segment)
        assert [s for _, s in got] == pytest.approx([s for _, s in expected]), (country, segment)
    # One row per list, and none for a blank country or segment of its own.
    assert TrendingList.objects.count() == len(every_list())


def test_the_portable_refresh_ranks_what_the_grouped_statement_ranks(shop):
    newest = Event.objects.latest("occurred_at").occurred_at

    grouped = _ranked_in_one_statement(newest, DAYS, event_weights(), 5)
    one_by_one = _ranked_one_by_one(DAYS, event_weights(), 5)

    assert set(grouped) == set(one_by_one) == set(every_list())
    for key, ranked in grouped.items():
        assert [pk for pk, _ in ranked] == [pk for pk, _ in one_by_one[key]], key


def test_a_list_with_no_events_is_empty_and_without_a_recent_refresh_there_is_none(shop):
    assert stored("GB", "") is None  # never refreshed

    refresh()

    assert stored("JP", "") == []  # the refresh saw no shopper from Japan
    assert stored("GB", "", fresher_than=NEWEST + timedelta(minutes=1)) is None  # too old


def test_a_refresh_replaces_every_list(shop):
    refresh()
    Event.objects.filter(shopper__country="DE").delete()
    Shopper.objects.filter(country="DE").delete()

    refresh(NEWEST + timedelta(minutes=5))

    assert stored("DE", "") == []
    assert not TrendingList.objects.filter(country="DE").exists()
    assert set(TrendingList.objects.values_list("computed_at", flat=True)) == {
        NEWEST + timedelta(minutes=5)
    }


def test_an_empty_shop_stores_an_empty_list_for_everyone():
    assert refresh() == 1
    assert stored("", "") == []


def test_reading_a_stored_list_does_not_touch_the_events(shop):
    refresh()

    with CaptureQueriesContext(connection) as queries:
        stored("FR", "vip")

    assert len(queries) == 1
    assert Event._meta.db_table not in queries[0]["sql"]


def test_the_summaries_command_ranks_the_trending_lists_too(shop):
    out = StringIO()

    call_command("refresh_event_summaries", "--no-progress", stdout=out)

    assert f"ranked {len(every_list())} trending lists" in out.getvalue()
    assert TrendingList.objects.count() == len(every_list())
