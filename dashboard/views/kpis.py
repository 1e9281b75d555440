"""The recommendation KPIs page: CTR per placement over time, the daily table, a CSV export."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.csv_safety import escape_formula
from dashboard.access import staff_page
from recommender.proof.selectors import (
    CSV_COLUMNS,
    daily_trend,
    kpi_record,
    placement_kpis,
    unattributable_events,
)

DAY_CHOICES = (7, 30, 90)


@staff_page
@require_GET
def kpis(request: HttpRequest) -> HttpResponse:
    days, start, end = _period(request)
    rows = placement_kpis(start=start, end=end)
    context = {
        "rows": rows,
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
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kpis-{start}-{end}.csv"'
    writer = csv.DictWriter(response, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in placement_kpis(start=start, end=end):
        # Names come from the shop (placements, models): a spreadsheet must not run them.
        record = kpi_record(row)
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
