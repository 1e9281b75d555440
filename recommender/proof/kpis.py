"""Daily KPIs per placement, variant and model version, kept in summary tables.

``refresh_kpis`` recomputes one UTC day from the source rows (impressions, events, current
prices) and replaces that day's rows in one transaction, so running it again, or after a
replayed event batch (ingestion drops the duplicates by event id), changes nothing.

Figures land on the day the act happened: impressions by when they were shown, clicks, carts
and purchases by when the shopper acted (a purchase just after midnight counts on its own day,
for the response clicked the evening before). Revenue is price x quantity with the product's
price when the day is refreshed: the worker refreshes today and yesterday every 15 minutes, so
that is the purchase-time price unless a price changes within minutes of a sale; an old day
refreshed again later takes today's prices.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from behavior.models import Event, EventKind, Shopper
from catalog.models import Product
from recommender.models import Impression, KpiDay, PlacementKpi
from recommender.proof.attribution import Act, Key, Shown, credit

ATTRIBUTABLE = (EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE)
CENT = Decimal("0.01")


@dataclass
class Tally:
    impressions: int = 0
    clicks: set[tuple[UUID, int]] = field(default_factory=set)
    carts: int = 0
    purchases: int = 0
    revenue: Decimal = Decimal(0)
    view_through_purchases: int = 0
    view_through_revenue: Decimal = Decimal(0)


def refresh_kpis(*, day: date, now: datetime) -> KpiDay:
    """Recompute ``day``'s KPI rows from the source rows and replace them (idempotent)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    window = timedelta(hours=settings.SHELFWISE_ATTRIBUTION_HOURS)
    tallies: dict[Key, Tally] = defaultdict(Tally)
    shown_per_key = (
        Impression.objects.filter(shown_at__gte=start, shown_at__lt=end)
        .values_list("placement", "variant", "model_version")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for placement, variant, model, n in shown_per_key:
        tallies[(placement, variant, model)].impressions = n

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

    unattributable = sum(
        1 for a in acts if a.recommendation_id is not None and a.recommendation_id not in shown
    )
    for a in acts:
        if a.recommendation_id in shown:
            named = shown[a.recommendation_id]
            tallies[named.key].clicks.add((named.id, a.product_id))
    touches_of: dict[tuple[int, int], list[Act]] = defaultdict(list)
    for touch in touches:
        touches_of[(touch.shopper_id, touch.product_id)].append(touch)
    seen_by: dict[str, list[Shown]] = defaultdict(list)
    for s in seen:
        seen_by[s.shopper].append(s)

    shop_revenue = Decimal(0)
    for a in acts:
        if a.kind == EventKind.VIEW:
            continue
        revenue = _revenue(prices.get(a.product_id), a.value)
        if a.kind == EventKind.PURCHASE:
            shop_revenue += revenue
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
        tally = tallies[got.shown.key]
        if a.kind == EventKind.ADD_TO_CART:
            tally.carts += 1
        elif got.through == "click":
            tally.purchases += 1
            tally.revenue += revenue
        else:
            tally.view_through_purchases += 1
            tally.view_through_revenue += revenue
    return _replace_day(
        day=day, tallies=tallies, shop_revenue=shop_revenue, unattributable=unattributable, now=now
    )


def _replace_day(
    *, day: date, tallies: dict[Key, Tally], shop_revenue: Decimal, unattributable: int, now
) -> KpiDay:
    with transaction.atomic():
        PlacementKpi.objects.filter(day=day).delete()
        PlacementKpi.objects.bulk_create(
            PlacementKpi(
                day=day,
                placement=placement,
                variant=variant,
                model_version=model,
                impressions=t.impressions,
                clicks=len(t.clicks),
                carts=t.carts,
                purchases=t.purchases,
                revenue=t.revenue,
                view_through_purchases=t.view_through_purchases,
                view_through_revenue=t.view_through_revenue,
            )
            for (placement, variant, model), t in sorted(tallies.items())
        )
        summary, _ = KpiDay.objects.update_or_create(
            day=day,
            defaults={
                "shop_revenue": shop_revenue,
                "unattributable_events": unattributable,
                "refreshed_at": now,
            },
        )
    return summary


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
    )


def _revenue(price: Decimal | None, quantity: float) -> Decimal:
    if price is None:
        return Decimal(0)
    return (price * Decimal(repr(quantity))).quantize(CENT)
