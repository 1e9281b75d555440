"""Dashboard: search products (a product's own page, with its similar items, lives in
recommender, which may read the catalog; the catalog never reads recommendations)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog import dashboard_selectors as selectors
from catalog.forms import ProductSearchForm
from config.dashboard import page_of, query_without_page, staff_page


@staff_page
def product_list(request: HttpRequest) -> HttpResponse:
    form = ProductSearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = page_of(request, selectors.product_search(**filters))
    return render(
        request,
        "catalog/product_list.html",
        {"form": form, "page": page, "query": query_without_page(request)},
    )
