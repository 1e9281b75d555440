"""One day's KPI figures computed in Python from the source rows: the embedded SQLite path.

PostgreSQL takes ``kpi_sql`` (set-based, 10M impressions in the bench); this is the reference
the SQL is tested against (``tests/recommender/test_kpi_sql.py``), rule for rule the
attribution of ``recommender.proof.attribution``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from django.db.models import Count, Q

from behavior.models import Event, EventKind, Shopper
from catalog.models import Product
from recommender.models import Impression
from recommender.proof.attribution import Act, Key, Shown, credit
from recommender.proof.figures import DayFigures, RuleTally, Tally

ATTRIBUTABLE = (EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE)
CENT = Decimal("0.01")


def day_figures_in_python(*, start: datetime, end: datetime, window: timedelta) -> DayFigures:
    """The figures of the acts and impressions in ``[start, end)``, attributed in Python."""
    tallies: dict[Key, Tally] = defaultdict(Tally)
    shown_per_key = (
        Impression.objects.filter(shown_at__gte=start, shown_at__lt=end)
        .values_list("placement", "variant", "model_version")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for placement, variant, model, n in shown_per_key:
        tallies[(placement, variant, model)].impressions = n
    rules: dict[int, RuleTally] = defaultdict(RuleTally)
    fired = Impression.objects.filter(shown_at__gte=start, shown_at__lt=end).exclude(rules={})
    for placement, fired_rules in fired.values_list("placement", "rules"):
        for rule_id in fired_rules:
            rules[int(rule_id)].placement = placement
            rules[int(rule_id)].impressions += 1

    acts = _acts(
        Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end, kind__in=ATTRIBUTABLE)
        .exclude(product__isnull=True)
        .filter(Q(recommendation_id__isnull=False) | ~Q(kind=EventKind.VIEW))
    )
    buyers = {a.shopper_id for a in acts if a.kind != EventKind.VIEW}
    touches = _acts(
        Event.objects.filter(
            shopper_id__in=buyers,
            recommendation_id__isnull=False,
            occurred_at__gte=start - window,
            occurred_at__lt=end,
        ).exclude(product__isnull=True)
    )
    external = dict(Shopper.objects.filter(pk__in=buyers).values_list("pk", "external_id"))
    seen = [
        _shown(row)
        for row in Impression.objects.filter(
            shopper__in=external.values(), shown_at__gte=start - window, shown_at__lt=end
        )
    ]
    ids = {a.recommendation_id for a in (*acts, *touches) if a.recommendation_id is not None}
    shown = {s.id: s for s in seen}
    missing = ids - shown.keys()
    shown.update(
        (s.id, s) for s in map(_shown, Impression.objects.filter(pk__in=missing).iterator())
    )
    prices = dict(
        Product.objects.filter(pk__in={a.product_id for a in acts}).values_list("pk", "price")
    )

    figures = DayFigures(tallies=tallies, rules=rules)
    figures.unattributable = sum(
        1 for a in acts if a.recommendation_id is not None and a.recommendation_id not in shown
    )
    clicked: dict[Key, set[tuple[UUID, int]]] = defaultdict(set)
    rule_clicked: dict[int, set[tuple[UUID, int]]] = defaultdict(set)
    for a in acts:
        if a.recommendation_id in shown:
            named = shown[a.recommendation_id]
            clicked[named.key].add((named.id, a.product_id))
            for rule_id in _rules_of(named, a.product_id):
                rule_clicked[rule_id].add((named.id, a.product_id))
                rules[rule_id].placement = named.key[0]
    for key, pairs in clicked.items():
        tallies[key].clicks = len(pairs)
    for rule_id, pairs in rule_clicked.items():
        rules[rule_id].clicks = len(pairs)
    touches_of: dict[tuple[int, int], list[Act]] = defaultdict(list)
    for touch in touches:
        touches_of[(touch.shopper_id, touch.product_id)].append(touch)
    seen_by: dict[str, list[Shown]] = defaultdict(list)
    for s in seen:
        seen_by[s.shopper].append(s)

    for a in acts:
        if a.kind == EventKind.VIEW:
            continue
        revenue = revenue_of(prices.get(a.product_id), a.value)
        if a.kind == EventKind.PURCHASE:
            figures.shop_revenue += revenue
        shopper = external.get(a.shopper_id, "")
        got = credit(
            a,
            shown=shown,
            touches=touches_of[(a.shopper_id, a.product_id)],
            seen_by_shopper=seen_by[shopper],
            shopper=shopper,
            window=window,
        )
        if got is None:
            continue
        counted = [tallies[got.shown.key]]
        if got.through == "click":
            for rule_id in _rules_of(got.shown, a.product_id):
                rules[rule_id].placement = got.shown.key[0]
                counted.append(rules[rule_id])
        for tally in counted:
            if a.kind == EventKind.ADD_TO_CART:
                tally.carts += 1
            elif got.through == "click":
                tally.purchases += 1
                tally.revenue += revenue
            else:
                tally.view_through_purchases += 1
                tally.view_through_revenue += revenue
    return figures


def revenue_of(price: Decimal | None, quantity: float) -> Decimal:
    """Price x quantity to the cent, halves rounded up (as PostgreSQL's ``round`` does)."""
    if price is None:
        return Decimal(0)
    return (price * Decimal(repr(quantity))).quantize(CENT, rounding=ROUND_HALF_UP)


def _rules_of(shown: Shown, product_id: int) -> list[int]:
    return [rule_id for rule_id, items in shown.rules.items() if product_id in items]


def _acts(events) -> list[Act]:
    return [
        Act(
            kind=kind,
            shopper_id=shopper_id,
            product_id=product_id,
            occurred_at=occurred_at,
            recommendation_id=recommendation_id,
            value=value,
        )
        for kind, shopper_id, product_id, occurred_at, recommendation_id, value in (
            events.order_by().values_list(
                "kind", "shopper_id", "product_id", "occurred_at", "recommendation_id", "value"
            )
        )
    ]


def _shown(row: Impression) -> Shown:
    return Shown(
        id=row.recommendation_id,
        key=(row.placement, row.variant, row.model_version),
        shopper=row.shopper,
        items=frozenset(row.items),
        shown_at=row.shown_at,
        rules={int(rule): frozenset(items) for rule, items in (row.rules or {}).items()},
    )
