"""The promotions and points page: what runs, what is scheduled, what points buy, and a
shopper's preview of both slots."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from behavior import selectors as shopper_selectors
from catalog import selectors as catalog_selectors
from dashboard.access import page_of, query_without_page, staff_page
from dashboard.forms import ShopperPickForm
from recommender.serving.service import recommend

PRODUCT_K = 8


@staff_page
@require_GET
def promotions(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = ShopperPickForm(request.GET if "shopper" in request.GET else None)
    preview = None
    if form.is_valid():
        shopper = form.cleaned_data["shopper"]
        preview = {
            "shopper": shopper,
            "promotions": recommend(shopper=shopper, slot="promotions", k=PRODUCT_K, now=now),
            "points": recommend(shopper=shopper, slot="points", k=PRODUCT_K, now=now),
        }
    page = page_of(request, catalog_selectors.points_catalogue())
    redeemable = shopper_selectors.redeemable_counts(points_prices=[p.points_price for p in page])
    context = {
        **catalog_selectors.promotions_overview(now=now),
        "form": form,
        "preview": preview,
        "page": page,
        "points_rows": [(p, redeemable[p.points_price]) for p in page],
        "query": query_without_page(request),
    }
    return render(request, "dashboard/promotions.html", context)
