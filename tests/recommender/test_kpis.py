"""Attribution and the daily KPI rows, with the clock given (README, "Proving it works")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from behavior.services import ingest_events
from config.recommendation_ids import new_recommendation_id
from recommender.models import Impression, KpiDay, PlacementKpi
from recommender.proof.kpis import refresh_kpis
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 30, tzinfo=UTC)
SHOWN = DAY + timedelta(hours=8)
NOW = DAY + timedelta(days=1, hours=1)
UNKNOWN = "0190f2a4-5b6c-7d8e-9f01-23456789abcd"
FIGURES = [f.name for f in PlacementKpi._meta.fields if f.name != "id"]  # rows are replaced


@pytest.fixture
def products():
    return [
        ProductFactory(sku="MUG", price=Decimal("12.50")),
        ProductFactory(sku="PLATE", price=Decimal("4.00")),
        ProductFactory(sku="BOWL", price=Decimal("7.00")),
    ]


def show(products, *, shopper="s-1", at=SHOWN, placement="for_you", model="als@v3") -> str:
    rec_id = new_recommendation_id()
    Impression.objects.create(
        recommendation_id=rec_id,
        placement=placement,
        model_version=model,
        items=[p.pk for p in products],
        shopper=shopper,
        shown_at=at,
    )
    return rec_id


def act(event_id, kind, sku, at, *, shopper="s-1", rec_id=None, value=1, **extra) -> dict:
    event = {
        "event_id": event_id,
        "shopper": shopper,
        "product": sku,
        "kind": kind,
        "value": value,
        "occurred_at": at.isoformat(),
        **extra,
    }
    if rec_id is not None:
        event["recommendation_id"] = rec_id
    return event


def send(*events) -> None:
    result = ingest_events(events=list(events))
    assert result.invalid == 0, result.errors


def kpi(placement="for_you", model="als@v3") -> PlacementKpi:
    return PlacementKpi.objects.get(day=DAY.date(), placement=placement, model_version=model)


def test_a_purchase_after_a_click_counts_with_its_price_times_quantity(products):
    rec = show(products)
    send(
        act("v1", "view", "MUG", SHOWN + timedelta(minutes=1), rec_id=rec, position=1),
        act("v2", "view", "MUG", SHOWN + timedelta(minutes=2), rec_id=rec, position=1),
        act("c1", "add_to_cart", "MUG", SHOWN + timedelta(minutes=3)),
        act("p1", "purchase", "MUG", SHOWN + timedelta(minutes=9), value=2),
        act("p2", "purchase", "PLATE", SHOWN + timedelta(minutes=9), value=3),  # not clicked
    )

    summary = refresh_kpis(day=DAY.date(), now=NOW)

    row = kpi()
    assert (row.impressions, row.clicks, row.carts, row.purchases) == (1, 1, 1, 1)
    assert row.revenue == Decimal("25.00")
    assert (row.view_through_purchases, row.view_through_revenue) == (1, Decimal("12.00"))
    assert summary.shop_revenue == Decimal("37.00")
    assert summary.unattributable_events == 0


@pytest.mark.parametrize(
    ("after", "attributed"),
    [
        (timedelta(0), True),
        (timedelta(hours=24), True),
        (timedelta(hours=24, seconds=1), False),
        (timedelta(seconds=-1), False),
    ],
)
def test_the_click_window_is_closed_at_both_ends(products, after, attributed):
    click_at = DAY + timedelta(minutes=30)
    rec = show(products, at=DAY + timedelta(minutes=10))
    send(act("v1", "view", "MUG", click_at, rec_id=rec))
    bought_at = click_at + after
    send(act("p1", "purchase", "MUG", bought_at))

    refresh_kpis(day=bought_at.date(), now=NOW + timedelta(days=1))

    rows = PlacementKpi.objects.filter(day=bought_at.date(), purchases=1)
    assert rows.exists() is attributed


def test_the_window_follows_the_setting(products, settings):
    settings.SHELFWISE_ATTRIBUTION_HOURS = 2
    rec = show(products, at=DAY)
    send(
        act("v1", "view", "MUG", DAY, rec_id=rec),
        act("p1", "purchase", "MUG", DAY + timedelta(hours=2)),
        act("v2", "view", "PLATE", DAY, rec_id=rec),
        act("p2", "purchase", "PLATE", DAY + timedelta(hours=2, seconds=1)),
    )

    refresh_kpis(day=DAY.date(), now=NOW)

    assert kpi().purchases == 1 and kpi().revenue == Decimal("12.50")


def test_a_purchase_without_an_id_and_no_click_before_it_is_not_attributed(products):
    show([products[2]])  # shown something else: no view-through either
    send(act("p1", "purchase", "MUG", SHOWN + timedelta(hours=1)))

    summary = refresh_kpis(day=DAY.date(), now=NOW)

    row = kpi()
    assert (row.purchases, row.view_through_purchases, row.revenue) == (0, 0, Decimal(0))
    assert summary.shop_revenue == Decimal("12.50")


def test_a_click_by_another_shopper_does_not_credit_a_purchase(products):
    rec = show(products)
    send(
        act("v1", "view", "MUG", SHOWN, rec_id=rec, shopper="s-9"),
        act("p1", "purchase", "MUG", SHOWN + timedelta(minutes=5), shopper="s-2"),
    )

    refresh_kpis(day=DAY.date(), now=NOW)

    assert (kpi().clicks, kpi().purchases, kpi().view_through_purchases) == (1, 0, 0)


def test_the_latest_click_takes_the_purchase_so_revenue_counts_once(products):
    early = show(products, placement="for_you")
    late = show(products, placement="similar", at=SHOWN + timedelta(hours=1))
    send(
        act("v1", "view", "MUG", SHOWN, rec_id=early),
        act("v2", "view", "MUG", SHOWN + timedelta(hours=1), rec_id=late),
        act("p1", "purchase", "MUG", SHOWN + timedelta(hours=2)),
    )

    refresh_kpis(day=DAY.date(), now=NOW)

    assert kpi("for_you").purchases == 0
    assert kpi("similar").purchases == 1 and kpi("similar").revenue == Decimal("12.50")


def test_a_purchase_carrying_the_id_counts_within_the_window_of_the_showing(products):
    rec = show(products)
    send(
        act("p1", "purchase", "MUG", SHOWN + timedelta(hours=24), rec_id=rec),
        act("p2", "purchase", "PLATE", SHOWN + timedelta(hours=24, seconds=1), rec_id=rec),
    )

    refresh_kpis(day=(DAY + timedelta(days=1)).date(), now=NOW)

    # Both are clicks on the day they happened; only the first came within the window.
    later = PlacementKpi.objects.get(day=(DAY + timedelta(days=1)).date())
    assert (later.clicks, later.purchases, later.revenue) == (2, 1, Decimal("12.50"))


def test_unknown_ids_are_stored_counted_as_unattributable_and_credit_nothing(products):
    show(products)
    send(
        act("v1", "view", "MUG", SHOWN, rec_id=UNKNOWN),
        act("p1", "purchase", "MUG", SHOWN + timedelta(minutes=1), rec_id=UNKNOWN),
    )

    summary = refresh_kpis(day=DAY.date(), now=NOW)

    assert summary.unattributable_events == 2
    assert (kpi().clicks, kpi().purchases, kpi().view_through_purchases) == (0, 0, 0)


def test_a_replayed_event_batch_changes_no_kpi(products):
    rec = show(products)
    batch = [
        act("v1", "view", "MUG", SHOWN, rec_id=rec),
        act("p1", "purchase", "MUG", SHOWN + timedelta(minutes=5), value=2),
        act("v2", "view", "BOWL", SHOWN, rec_id=UNKNOWN),
    ]
    send(*batch)
    refresh_kpis(day=DAY.date(), now=NOW)
    before = list(PlacementKpi.objects.values(*FIGURES))
    summary = KpiDay.objects.values("shop_revenue", "unattributable_events").get()

    assert ingest_events(events=batch).duplicates == 3
    refresh_kpis(day=DAY.date(), now=NOW + timedelta(minutes=15))

    assert list(PlacementKpi.objects.values(*FIGURES)) == before
    assert KpiDay.objects.values("shop_revenue", "unattributable_events").get() == summary


def test_figures_are_kept_apart_per_model_version(products):
    show(products, model="als@v3")
    show(products, model="als@v4")
    show(products, model="als@v4")

    refresh_kpis(day=DAY.date(), now=NOW)

    assert kpi(model="als@v3").impressions == 1
    assert kpi(model="als@v4").impressions == 2


def test_the_rates_derive_from_the_counts_per_impression(products):
    from recommender.proof.selectors import placement_kpis, unattributable_events

    recs = [show(products) for _ in range(4)]
    send(
        act("v1", "view", "MUG", SHOWN, rec_id=recs[0]),
        act("v2", "view", "BOWL", SHOWN, rec_id=recs[1]),
        act("c1", "add_to_cart", "MUG", SHOWN + timedelta(minutes=1)),
        act("p1", "purchase", "MUG", SHOWN + timedelta(minutes=2), value=2),
        act("p2", "purchase", "PLATE", SHOWN + timedelta(minutes=2), shopper="s-7"),
        act("v3", "view", "BOWL", SHOWN, rec_id=UNKNOWN),
    )
    refresh_kpis(day=DAY.date(), now=NOW)

    (row,) = placement_kpis(start=DAY.date(), end=DAY.date())

    assert (row.ctr, row.add_to_cart_rate, row.conversion) == (0.5, 0.25, 0.25)
    assert row.revenue_per_mille == Decimal("6250.00")  # 25.00 over 4 impressions
    assert row.revenue_share == pytest.approx(25 / 29)
    assert unattributable_events(start=DAY.date(), end=DAY.date()) == 1
