"""The daily summaries answer exactly what the events table answers, before and after a refresh,
with events arriving between refreshes, and after a backfill of old days."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from behavior.models import Event, KindDayCount, ProductDayCount, Shopper
from behavior.selectors import product_activity
from behavior.services import ingest_events
from behavior.summaries import refresh_event_summaries
from behavior.volume_selectors import events_between, events_chart
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 10, 15, 30, tzinfo=UTC)
SINCE = datetime(2024, 4, 11, tzinfo=UTC)  # the chart's first midnight, 30 days to NOW
KINDS = ("view", "view", "add_to_cart", "purchase", "search")


@pytest.fixture
def shop() -> list[str]:
    skus = [ProductFactory(sku=f"SKU-{n}").sku for n in range(4)]
    for n, country in enumerate(("GB", "FR", "", "DE", "GB")):
        Shopper.objects.create(external_id=f"shopper-{n}", country=country)
    store(prefix="history", start=NOW - timedelta(days=40), hours=40 * 24 + 15, skus=skus)
    return skus


def store(*, prefix: str, start: datetime, hours: int, skus: list[str], step: int = 7) -> None:
    """An event every ``step`` hours from ``start``, kinds, products and shoppers in turn."""
    events = []
    for n, hour in enumerate(range(0, hours, step)):
        kind = KINDS[n % len(KINDS)]
        event = {
            "event_id": f"{prefix}-{n}",
            "shopper": f"shopper-{n % 5}",
            "kind": kind,
            "occurred_at": (start + timedelta(hours=hour, minutes=n % 60)).isoformat(),
        }
        event.update({"query": "mug"} if kind == "search" else {"product": skus[n % len(skus)]})
        events.append(event)
    result = ingest_events(events=events)
    assert result.invalid == 0, result.errors


def raw_chart() -> dict:
    rows = (
        Event.objects.between(start=SINCE, end=NOW + timedelta(seconds=1))
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
    )
    counts = Counter({(day, kind): n for day, kind, n in rows.order_by()})
    days = [(SINCE + timedelta(days=d)).date() for d in range(30)]
    kinds = sorted({kind for _day, kind in counts})
    return {kind: [counts[day, kind] for day in days] for kind in kinds}


def chart_by_kind() -> dict:
    chart = events_chart(since=SINCE, until=NOW, days=30)
    by_kind = {
        kind: dataset["data"]
        for kind, dataset in zip(chart["kinds"], chart["datasets"], strict=True)
    }
    return dict(sorted(by_kind.items()))


def raw_activity(product_id: int, since: datetime) -> dict:
    rows = (
        Event.objects.filter(product_id=product_id)
        .values_list("kind")
        .annotate(total=Count("id"), recent=Count("id", filter=Q(occurred_at__gte=since)))
        .order_by()
    )
    return {kind: {"total": total, "recent": recent} for kind, total, recent in rows}


RANGES = [
    (NOW.replace(hour=0, minute=0), NOW),  # today so far
    (NOW - timedelta(days=7), NOW),  # the week, starting mid-day
    (NOW - timedelta(days=45), NOW + timedelta(days=1)),
    (datetime(2024, 4, 20, 3, tzinfo=UTC), datetime(2024, 4, 20, 22, tzinfo=UTC)),
]


def assert_summaries_answer_like_the_events() -> None:
    assert chart_by_kind() == raw_chart()
    for start, end in RANGES:
        assert (
            events_between(start=start, end=end)
            == Event.objects.between(start=start, end=end).count()
        ), (start, end)
    for product_id in Event.objects.exclude(product=None).values_list("product_id", flat=True):
        for since in (NOW - timedelta(days=30), NOW.replace(hour=0, minute=0)):
            assert product_activity(product_id=product_id, since=since) == raw_activity(
                product_id, since
            )


def test_every_count_equals_the_events_before_the_first_refresh(shop):
    assert_summaries_answer_like_the_events()


def test_every_count_equals_the_events_after_a_refresh_and_with_newer_events(shop):
    refresh_event_summaries(now=NOW)
    assert ProductDayCount.objects.exists() and KindDayCount.objects.exists()
    assert_summaries_answer_like_the_events()

    # Stored after the refresh: today's and a backfill of old days, counted from the events.
    store(prefix="late", start=NOW - timedelta(hours=5), hours=5, skus=shop, step=1)
    store(prefix="backfill", start=NOW - timedelta(days=25), hours=48, skus=shop, step=3)
    assert_summaries_answer_like_the_events()

    refresh_event_summaries(now=NOW)
    assert_summaries_answer_like_the_events()


def test_a_refresh_rewrites_the_backfilled_days_and_no_others(shop):
    refresh_event_summaries(now=NOW)
    store(prefix="backfill", start=datetime(2024, 4, 15, 1, tzinfo=UTC), hours=20, skus=shop)

    done = refresh_event_summaries(now=NOW)

    assert done.days == 3  # 15 April, and today and yesterday as always
    backfilled = ProductDayCount.objects.filter(day="2024-04-15")
    raw = Event.objects.filter(occurred_at__date="2024-04-15").exclude(product=None)
    assert sum(backfilled.values_list("events", flat=True)) == raw.count()


def test_refreshing_twice_or_rebuilding_changes_no_row(shop):
    refresh_event_summaries(now=NOW)
    rows = set(ProductDayCount.objects.values_list("day", "product_id", "kind", "events"))
    kinds = set(KindDayCount.objects.values_list("day", "kind", "country", "events"))

    refresh_event_summaries(now=NOW)
    call_command("refresh_event_summaries", "--rebuild", "--no-progress")

    assert set(ProductDayCount.objects.values_list("day", "product_id", "kind", "events")) == rows
    assert set(KindDayCount.objects.values_list("day", "kind", "country", "events")) == kinds
    assert rows and kinds


def test_the_country_counts_are_the_shoppers_countries(shop):
    refresh_event_summaries(now=NOW, rebuild=True)

    summarised = Counter()
    for country, n in KindDayCount.objects.values_list("country", "events"):
        summarised[country] += n
    raw = Counter(Event.objects.values_list("shopper__country", flat=True))

    assert summarised == raw
    assert set(raw) == {"GB", "FR", "", "DE"}
