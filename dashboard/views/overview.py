"""The overview at the site root: counts, funnel, reach, the events chart, champions, alerts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dashboard import selectors
from dashboard.access import staff_page


@staff_page
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    context = selectors.overview(now=timezone.now())
    return render(request, "dashboard/overview.html", context)
