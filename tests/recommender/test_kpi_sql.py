"""The set-based SQL refresh against the Python one (the reference), on a seeded fixture."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from behavior.services import ingest_events
from config.recommendation_ids import new_recommendation_id
from recommender.models import Impression, RuleKpi
from recommender.proof.kpi_python import day_figures_in_python
from recommender.proof.kpi_sql import day_figures_in_sql
from recommender.proof.kpis import refresh_kpis
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 28, tzinfo=UTC)
WINDOW = timedelta(hours=24)
PLACEMENTS = ("for_you", "similar", "home_hero")
MODELS = ("als@v3", "als@v4", "")


def busy_shop(seed: int) -> None:
    """Three days of responses (some with rules) and the acts that follow them: clicks, clicks
    on ids never served, carts and purchases with and without ids, across midnights."""
    rng = random.Random(seed)
    products = [
        ProductFactory(sku=f"P{n}", price=Decimal(rng.choice(["4.99", "12.50", "0.45", "80"])))
        for n in range(12)
    ]
    shoppers = [f"s-{n}" for n in range(8)]
    events: list[dict] = []
    for n in range(160):
        at = DAY + timedelta(minutes=rng.randrange(3 * 24 * 60), seconds=n)  # no ties
        items = rng.sample(products, 4)
        placement = rng.choice(PLACEMENTS)
        rules = {}  # a rule belongs to one placement: 7 and 8 to the hero, 9 to "similar"
        if placement == "home_hero" and rng.random() < 0.8:
            rules[str(rng.choice([7, 8]))] = [items[0].pk]
        if placement != "for_you" and rng.random() < 0.5:
            rules["9" if placement == "similar" else "8"] = [p.pk for p in items[1:3]]
        rec = new_recommendation_id()
        shopper = rng.choice(shoppers)
        Impression.objects.create(
            recommendation_id=rec,
            placement=placement,
            variant=rng.choice(["", "", "b"]),
            model_version=rng.choice(MODELS),
            items=[p.pk for p in items],
            rules=rules,
            shopper=shopper,
            shown_at=at,
        )
        for product in items:
            if rng.random() < 0.35:
                clicked = at + timedelta(minutes=rng.randrange(1, 600))
                known = rng.random() < 0.9
                events.append(
                    event(len(events), "view", product, clicked, shopper, rec if known else None)
                )
                if rng.random() < 0.6:
                    later = clicked + timedelta(hours=rng.choice([0.5, 3, 20, 25]))
                    carried = rec if rng.random() < 0.3 else None
                    events.append(event(len(events), "add_to_cart", product, later, shopper, None))
                    kind_at = later + timedelta(minutes=rng.randrange(1, 120))
                    events.append(
                        event(len(events), "purchase", product, kind_at, shopper, carried,
                              value=rng.choice([1, 2, 0.5]))
                    )  # fmt: skip
            elif rng.random() < 0.1:  # bought after only seeing it: view-through
                bought = at + timedelta(hours=rng.choice([1, 23, 30]))
                events.append(event(len(events), "purchase", product, bought, shopper, None))
    result = ingest_events(events=events)
    assert result.invalid == 0, result.errors


def event(n, kind, product, at, shopper, rec, *, value=1) -> dict:
    body = {
        "event_id": f"e{n}",
        "shopper": shopper,
        "product": product.sku,
        "kind": kind,
        "value": value,
        "occurred_at": at.isoformat(),
    }
    if rec is not None:
        body["recommendation_id"] = rec
    elif kind == "view":
        body["recommendation_id"] = "0190f2a4-5b6c-7d8e-9f01-23456789abcd"  # never served
    return body


def figures(compute, day: datetime) -> dict:
    with transaction.atomic():
        found = compute(start=day, end=day + timedelta(days=1), window=WINDOW)
    return {
        "keys": {key: asdict(t) for key, t in found.tallies.items()},
        "rules": {rule: asdict(t) for rule, t in found.rules.items()},
        "shop_revenue": found.shop_revenue,
        "unattributable": found.unattributable,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sql_refresh_gives_exactly_the_python_refresh_figures(seed):
    busy_shop(seed)

    for offset in range(4):
        day = DAY + timedelta(days=offset)
        in_sql = figures(day_figures_in_sql, day)
        in_python = figures(day_figures_in_python, day)

        assert in_sql == in_python
    # The day after the last showing: acts credited to earlier days' responses, no impressions.
    assert in_python["keys"] and not any(t["impressions"] for t in in_python["keys"].values())
    busy = figures(day_figures_in_sql, DAY + timedelta(days=1))
    assert sum(t["purchases"] for t in busy["keys"].values()) > 0
    assert sum(t["view_through_purchases"] for t in busy["keys"].values()) > 0
    assert sum(t["purchases"] for t in busy["rules"].values()) > 0
    assert busy["unattributable"] > 0


def test_a_rule_counts_only_the_items_it_placed(settings):
    mug, plate, bowl = (ProductFactory(sku=s, price=Decimal("10.00")) for s in "MPB")
    rec = new_recommendation_id()
    Impression.objects.create(
        recommendation_id=rec,
        placement="home_hero",
        items=[mug.pk, plate.pk, bowl.pk],
        rules={"7": [mug.pk], "8": [plate.pk, bowl.pk]},
        shopper="s-1",
        shown_at=DAY,
    )
    clicked = DAY + timedelta(minutes=5)
    result = ingest_events(
        events=[
            event(1, "view", mug, clicked, "s-1", rec),
            event(2, "view", plate, clicked, "s-1", rec),
            event(3, "add_to_cart", mug, clicked + timedelta(minutes=1), "s-1", None),
            event(4, "purchase", mug, clicked + timedelta(minutes=2), "s-1", None, value=3),
        ]
    )
    assert result.invalid == 0

    refresh_kpis(day=DAY.date(), now=DAY + timedelta(days=1))

    rows = {r.rule_id: r for r in RuleKpi.objects.filter(day=DAY.date())}
    assert (rows[7].impressions, rows[7].clicks, rows[7].carts, rows[7].purchases) == (1, 1, 1, 1)
    assert rows[7].revenue == Decimal("30.00")
    assert (rows[8].impressions, rows[8].clicks, rows[8].purchases) == (1, 1, 0)
    assert rows[8].revenue == Decimal(0) and rows[8].placement == "home_hero"


def test_a_replayed_batch_changes_no_rule_figure():
    mug = ProductFactory(sku="M", price=Decimal("10.00"))
    rec = new_recommendation_id()
    Impression.objects.create(
        recommendation_id=rec,
        placement="home_hero",
        items=[mug.pk],
        rules={"7": [mug.pk]},
        shopper="s-1",
        shown_at=DAY,
    )
    batch = [
        event(1, "view", mug, DAY + timedelta(minutes=1), "s-1", rec),
        event(2, "purchase", mug, DAY + timedelta(minutes=2), "s-1", None),
    ]
    ingest_events(events=batch)
    refresh_kpis(day=DAY.date(), now=DAY + timedelta(days=1))
    figures = ("rule_id", "impressions", "clicks", "purchases", "revenue")
    before = list(RuleKpi.objects.values_list(*figures))

    assert ingest_events(events=batch).duplicates == 2
    refresh_kpis(day=DAY.date(), now=DAY + timedelta(days=1, minutes=15))

    after = list(RuleKpi.objects.values_list(*figures))
    assert after == before == [(7, 1, 1, 1, Decimal("10.00"))]
