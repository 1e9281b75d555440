"""Product pages: search products, and a product's neighbours, activity and reach."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from behavior import selectors as shopper_selectors
from catalog import selectors as catalog_selectors
from config.storable import unstorable
from dashboard.access import page_of, query_without_page, staff_page
from dashboard.forms import ProductSearchForm
from recommender.impressions import impressions_of
from recommender.serving.products import product_page_lists

PRODUCT_K = 8


@staff_page
def product_list(request: HttpRequest) -> HttpResponse:
    form = ProductSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = page_of(request, catalog_selectors.product_search(**filters))
    return render(
        request,
        "dashboard/product_list.html",
        {"form": form, "page": page, "query": query_without_page(request)},
    )


@staff_page
@require_GET
def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    if unstorable(sku):  # no stored key holds NUL; PostgreSQL would refuse the query
        raise Http404("No such product.")
    product = catalog_selectors.product_by_sku(sku=sku)
    if product is None:
        raise Http404(f"No product {sku!r}.")
    now = timezone.now()
    similar, together = product_page_lists(sku=sku, k=PRODUCT_K, now=now)
    context = {
        "product": product,
        "behavioural": [i for i in similar.items if i.reason.code == "similar"],
        "similar": similar,
        "content": catalog_selectors.content_neighbours(products=[product], k=PRODUCT_K)[
            product.pk
        ],
        "together": together,
        "activity": shopper_selectors.product_activity(
            product_id=product.pk, since=now - timezone.timedelta(days=30)
        ),
        "recommended_last_day": impressions_of(product_id=product.pk, now=now),
    }
    return render(request, "dashboard/product_detail.html", context)
