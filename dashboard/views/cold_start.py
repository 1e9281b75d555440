"""The cold-start page: what a brand-new shopper would get, by country and by declared interest,
and the newest products with their content neighbours."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from behavior import volume_selectors
from behavior.countries import country_name
from catalog import selectors as catalog_selectors
from dashboard import selectors
from dashboard.access import staff_page

PREVIEW_K = 5


@staff_page
@require_GET
def cold_start(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    countries = [
        (country_name(code), selectors.cold_start_preview(now=now, k=PREVIEW_K, country=code))
        for code in volume_selectors.top_countries(limit=5)
    ]
    interests = [
        (
            category,
            selectors.cold_start_preview(now=now, k=PREVIEW_K, interests=frozenset({category.pk})),
        )
        for category in volume_selectors.interest_categories(limit=6)
    ]
    newest = catalog_selectors.newest_products(limit=8)
    neighbours = catalog_selectors.content_neighbours(products=newest, k=3)
    context = {
        "anonymous": selectors.cold_start_preview(now=now, k=PREVIEW_K),
        "countries": countries,
        "interests": interests,
        "newest": [(p, neighbours[p.pk]) for p in newest],
    }
    return render(request, "dashboard/cold_start.html", context)
