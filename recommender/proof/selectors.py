"""The KPI figures as read: counts from the summary tables and the rates derived from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from recommender.models import KpiDay, PlacementKpi, RuleKpi


@dataclass(frozen=True)
class KpiRow:
    day: date
    placement: str
    variant: str
    model_version: str
    impressions: int
    clicks: int
    carts: int
    purchases: int
    revenue: Decimal
    view_through_purchases: int
    view_through_revenue: Decimal
    shop_revenue: Decimal

    @property
    def ctr(self) -> float | None:
        return _rate(self.clicks, self.impressions)

    @property
    def add_to_cart_rate(self) -> float | None:
        return _rate(self.carts, self.impressions)

    @property
    def conversion(self) -> float | None:
        return _rate(self.purchases, self.impressions)

    @property
    def revenue_per_mille(self) -> Decimal | None:
        """Attributed revenue per 1,000 impressions."""
        if not self.impressions:
            return None
        return (self.revenue * 1000 / self.impressions).quantize(Decimal("0.01"))

    @property
    def revenue_share(self) -> float | None:
        """This row's attributed revenue over the whole shop's revenue that day."""
        return float(self.revenue / self.shop_revenue) if self.shop_revenue else None


def placement_kpis(*, start: date, end: date) -> list[KpiRow]:
    """Every KPI row from ``start`` to ``end`` (inclusive), newest day first."""
    shop = dict(
        KpiDay.objects.filter(day__gte=start, day__lte=end).values_list("day", "shop_revenue")
    )
    return [
        KpiRow(
            day=row.day,
            placement=row.placement,
            variant=row.variant,
            model_version=row.model_version,
            impressions=row.impressions,
            clicks=row.clicks,
            carts=row.carts,
            purchases=row.purchases,
            revenue=row.revenue,
            view_through_purchases=row.view_through_purchases,
            view_through_revenue=row.view_through_revenue,
            shop_revenue=shop.get(row.day, Decimal(0)),
        )
        for row in PlacementKpi.objects.filter(day__gte=start, day__lte=end)
    ]


@dataclass(frozen=True)
class RuleKpiRow:
    """One rule's day: the responses it fired in and what its own items earned."""

    day: date
    rule_id: int
    placement: str
    impressions: int
    clicks: int
    carts: int
    purchases: int
    revenue: Decimal

    @property
    def ctr(self) -> float | None:
        """Clicks on its items per response it fired in."""
        return _rate(self.clicks, self.impressions)

    @property
    def conversion(self) -> float | None:
        return _rate(self.purchases, self.impressions)


def rule_kpis(*, start: date, end: date) -> list[RuleKpiRow]:
    """Every rule's KPI row from ``start`` to ``end`` (inclusive), newest day first."""
    return [
        RuleKpiRow(
            day=row.day,
            rule_id=row.rule_id,
            placement=row.placement,
            impressions=row.impressions,
            clicks=row.clicks,
            carts=row.carts,
            purchases=row.purchases,
            revenue=row.revenue,
        )
        for row in RuleKpi.objects.filter(day__gte=start, day__lte=end)
    ]


def rule_totals(rows: list[RuleKpiRow]) -> list[RuleKpiRow]:
    """One row per rule summing ``rows`` (its ``day`` the latest), by revenue, then clicks."""
    totals: dict[int, RuleKpiRow] = {}
    for row in rows:
        seen = totals.get(row.rule_id)
        if seen is None:
            totals[row.rule_id] = row
            continue
        totals[row.rule_id] = RuleKpiRow(
            day=max(seen.day, row.day),
            rule_id=row.rule_id,
            placement=seen.placement,
            impressions=seen.impressions + row.impressions,
            clicks=seen.clicks + row.clicks,
            carts=seen.carts + row.carts,
            purchases=seen.purchases + row.purchases,
            revenue=seen.revenue + row.revenue,
        )
    return sorted(totals.values(), key=lambda r: (-r.revenue, -r.clicks, r.rule_id))


RULE_CSV_COLUMNS = (
    "day",
    "rule_id",
    "placement",
    "impressions",
    "clicks",
    "carts",
    "purchases",
    "revenue",
    "ctr",
    "conversion",
)


def rule_record(row: RuleKpiRow) -> dict:
    """One rule row with its rates, in ``RULE_CSV_COLUMNS`` order (API item and CSV line)."""
    return {name: getattr(row, name) for name in RULE_CSV_COLUMNS}


def unattributable_events(*, start: date, end: date) -> int:
    """Events naming an id never served, from ``start`` to ``end`` (the visible figure)."""
    days = KpiDay.objects.filter(day__gte=start, day__lte=end)
    return sum(days.values_list("unattributable_events", flat=True))


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def daily_trend(rows: list[KpiRow]) -> dict:
    """Chart.js data: CTR (%) per day, one line per placement (its variants and models summed)."""
    days = sorted({row.day for row in rows})
    shown: dict[str, dict[date, list[int]]] = {}
    for row in rows:
        counts = shown.setdefault(row.placement, {}).setdefault(row.day, [0, 0])
        counts[0] += row.clicks
        counts[1] += row.impressions
    return {
        "labels": [f"{day:%d %b}" for day in days],
        "datasets": [
            {
                "label": placement,
                "data": [
                    round(100 * c[0] / c[1], 2) if (c := by_day.get(day)) and c[1] else None
                    for day in days
                ],
            }
            for placement, by_day in sorted(shown.items())
        ],
    }


CSV_COLUMNS = (
    "day",
    "placement",
    "variant",
    "model_version",
    "impressions",
    "clicks",
    "carts",
    "purchases",
    "revenue",
    "view_through_purchases",
    "view_through_revenue",
    "ctr",
    "add_to_cart_rate",
    "conversion",
    "revenue_per_mille",
    "revenue_share",
)


def kpi_record(row: KpiRow) -> dict:
    """One row with its rates, in ``CSV_COLUMNS`` order: the API's item and the CSV's line."""
    return {name: getattr(row, name) for name in CSV_COLUMNS}
