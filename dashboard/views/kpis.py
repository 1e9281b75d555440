"""The recommendation KPIs page: CTR per placement over time, the daily table, a CSV export."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.csv_safety import escape_formula
from dashboard.access import page_of, query_without_page, staff_page
from placements.selectors import rule_names
from recommender.proof.selectors import (
    CSV_COLUMNS,
    RULE_CSV_COLUMNS,
    daily_trend,
    kpi_record,
    placement_kpis,
    rule_kpis,
    rule_record,
    rule_totals,
    unattributable_events,
)

DAY_CHOICES = (7, 30, 90)
KPI_ROWS_PER_PAGE = 100


@staff_page
@require_GET
def kpis(request: HttpRequest) -> HttpResponse:
    days, start, end = _period(request)
    rows = placement_kpis(start=start, end=end)
    rules = rule_totals(rule_kpis(start=start, end=end))
    names = rule_names(rule_ids=[r.rule_id for r in rules])
    context = {
        "rules": [(row, names.get(row.rule_id)) for row in rules],
        # Paged: 30 days of a few placements x variants x models is hundreds of rows; all 360
        # of bench/kpis.py cost 200 ms of CPU to render, 100 of them 55 ms. The CSV has all.
        "page": page_of(request, rows, per_page=KPI_ROWS_PER_PAGE),
        "query": query_without_page(request),
        "trend": daily_trend(rows),
        "days": days,
        "day_choices": DAY_CHOICES,
        "start": start,
        "end": end,
        "unattributable": unattributable_events(start=start, end=end),
        "impressions": sum(r.impressions for r in rows),
        "revenue": sum((r.revenue for r in rows), start=0),
    }
    return render(request, "dashboard/kpis.html", context)


@staff_page
@require_GET
def kpis_csv(request: HttpRequest) -> HttpResponse:
    _days, start, end = _period(request)
    records = [kpi_record(row) for row in placement_kpis(start=start, end=end)]
    return _csv(records, columns=CSV_COLUMNS, filename=f"kpis-{start}-{end}.csv")


@staff_page
@require_GET
def rule_kpis_csv(request: HttpRequest) -> HttpResponse:
    _days, start, end = _period(request)
    records = [rule_record(row) for row in rule_kpis(start=start, end=end)]
    return _csv(records, columns=RULE_CSV_COLUMNS, filename=f"rule-kpis-{start}-{end}.csv")


def _csv(records: list[dict], *, columns: tuple[str, ...], filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.DictWriter(response, fieldnames=columns)
    writer.writeheader()
    for record in records:
        # Names come from the shop (placements, models): a spreadsheet must not run them.
        writer.writerow(
            {k: escape_formula(v) if isinstance(v, str) else v for k, v in record.items()}
        )
    return response


def _period(request: HttpRequest):
    """The last ``?days=`` UTC days (one of DAY_CHOICES; anything else is 30) up to today."""
    days = request.GET.get("days", "")
    days = int(days) if days.isdigit() and int(days) in DAY_CHOICES else 30
    end = timezone.now().date()
    return days, end - timedelta(days=days - 1), end
