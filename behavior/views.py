"""Dashboard: search shoppers (a shopper's own page, with its slots, lives in recommender)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from behavior import dashboard_selectors as selectors
from behavior.forms import ShopperSearchForm
from config.dashboard import page_of, query_without_page, staff_page


@staff_page
def shopper_list(request: HttpRequest) -> HttpResponse:
    form = ShopperSearchForm(request.GET or None, **_choices())
    filters = form.cleaned_data if form.is_valid() else {}
    page = page_of(request, selectors.shopper_search(**filters))
    activity = selectors.activity_of(shopper_ids=[s.pk for s in page])
    rows = [(shopper, activity.get(shopper.pk, {})) for shopper in page]
    return render(
        request,
        "behavior/shopper_list.html",
        {"form": form, "page": page, "rows": rows, "query": query_without_page(request)},
    )


def _choices() -> dict[str, list[str]]:
    choices = selectors.shopper_choices()
    return {"countries": choices["countries"], "segments": choices["segments"]}
