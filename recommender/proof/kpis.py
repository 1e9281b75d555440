"""Daily KPIs per placement, variant and model version, and per rule, kept in summary tables.

``refresh_kpis`` recomputes one UTC day from the source rows (impressions, events, current
prices) and replaces that day's rows in one transaction, so running it again, or after a
replayed event batch (ingestion drops the duplicates by event id), changes nothing. On
PostgreSQL the day is computed by set-based SQL (``kpi_sql``); elsewhere (the embedded SQLite
demo) in Python (``kpi_python``), and a test holds the two to the same figures.

Figures land on the day the act happened: impressions by when they were shown, clicks, carts
and purchases by when the shopper acted (a purchase just after midnight counts on its own day,
for the response clicked the evening before). Revenue is price x quantity with the product's
price when the day is refreshed: the worker refreshes today and yesterday every 15 minutes, so
that is the purchase-time price unless a price changes within minutes of a sale; an old day
refreshed again later takes today's prices.

A rule's row counts the responses it fired in, and the clicks, carts, click-through purchases
and revenue of the items it placed, pinned, boosted or buried in them (the impression's
``rules``); an item two rules touched counts for both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction

from recommender.models import KpiDay, PlacementKpi, RuleKpi
from recommender.proof.figures import DayFigures
from recommender.proof.kpi_python import day_figures_in_python
from recommender.proof.kpi_sql import day_figures_in_sql


def refresh_kpis(*, day: date, now: datetime) -> KpiDay:
    """Recompute ``day``'s KPI rows from the source rows and replace them (idempotent)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    window = timedelta(hours=settings.SHELFWISE_ATTRIBUTION_HOURS)
    compute = day_figures_in_sql if connection.vendor == "postgresql" else day_figures_in_python
    with transaction.atomic():
        figures = compute(start=start, end=end, window=window)
        return _replace_day(day=day, figures=figures, now=now)


def _replace_day(*, day: date, figures: DayFigures, now: datetime) -> KpiDay:
    PlacementKpi.objects.filter(day=day).delete()
    PlacementKpi.objects.bulk_create(
        PlacementKpi(
            day=day,
            placement=placement,
            variant=variant,
            model_version=model,
            impressions=t.impressions,
            clicks=t.clicks,
            carts=t.carts,
            purchases=t.purchases,
            revenue=t.revenue,
            view_through_purchases=t.view_through_purchases,
            view_through_revenue=t.view_through_revenue,
        )
        for (placement, variant, model), t in sorted(figures.tallies.items())
    )
    RuleKpi.objects.filter(day=day).delete()
    RuleKpi.objects.bulk_create(
        RuleKpi(
            day=day,
            rule_id=rule_id,
            placement=t.placement,
            impressions=t.impressions,
            clicks=t.clicks,
            carts=t.carts,
            purchases=t.purchases,
            revenue=t.revenue,
        )
        for rule_id, t in sorted(figures.rules.items())
    )
    summary, _ = KpiDay.objects.update_or_create(
        day=day,
        defaults={
            "shop_revenue": figures.shop_revenue,
            "unattributable_events": figures.unattributable,
            "refreshed_at": now,
        },
    )
    return summary
