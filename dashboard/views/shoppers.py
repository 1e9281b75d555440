"""Shopper pages: search shoppers; a shopper's slots and timeline, and the real-time simulation
(store one event as the events API does and show "for you" before and after)."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from behavior import selectors as shopper_selectors
from behavior.permissions import EVENT_PERMISSION
from behavior.services import STORED, ingest_events
from config.storable import unstorable
from dashboard.access import page_of, query_without_page, require_permission, staff_page
from dashboard.forms import ShopperSearchForm, SimulateEventForm
from recommender.diffing import compare_lists
from recommender.serving.registry import shopper_page_slots
from recommender.serving.service import recommend

SLOT_K = 6


@staff_page
def shopper_list(request: HttpRequest) -> HttpResponse:
    form = ShopperSearchForm(request.GET or None, **_choices())
    filters = form.cleaned_data if form.is_valid() else {}
    page = page_of(request, shopper_selectors.shopper_search(**filters))
    activity = shopper_selectors.activity_of(shopper_ids=[s.pk for s in page])
    rows = [(shopper, activity.get(shopper.pk, {})) for shopper in page]
    return render(
        request,
        "dashboard/shopper_list.html",
        {"form": form, "page": page, "rows": rows, "query": query_without_page(request)},
    )


def _choices() -> dict[str, list[str]]:
    choices = shopper_selectors.shopper_choices()
    return {"countries": choices["countries"], "segments": choices["segments"]}


@staff_page
@require_GET
def shopper_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    shopper = _shopper_or_404(external_id)
    context = {**_shopper_context(shopper), "can_simulate": request.user.has_perm(EVENT_PERMISSION)}
    return render(request, "dashboard/shopper_detail.html", context)


@staff_page
@require_POST
def simulate_event(request: HttpRequest, external_id: str) -> HttpResponse:
    """Store one event exactly as the events API does, and show "for you" before and after."""
    require_permission(request, EVENT_PERMISSION)
    shopper = _shopper_or_404(external_id)
    form = SimulateEventForm(request.POST)
    result, after = None, None
    if form.is_valid():
        before = recommend(shopper=shopper, slot="for_you", k=SLOT_K, now=timezone.now())
        outcome = ingest_events(
            events=[
                {
                    "event_id": f"dashboard-{uuid.uuid4()}",
                    "shopper": shopper.external_id,
                    "product": form.cleaned_data["sku"],
                    "kind": form.cleaned_data["kind"],
                    "session_id": f"dashboard-{request.user.pk}",
                }
            ],
            create_unknown_shoppers=False,
        )
        if outcome.statuses != [STORED]:
            form.add_error(None, f"The event was not stored: {outcome.errors.get(0, outcome)}.")
        else:
            after = recommend(shopper=shopper, slot="for_you", k=SLOT_K, now=timezone.now())
            result = compare_lists(before=before.items, after=after.items)
            result["event"] = form.cleaned_data
            form = SimulateEventForm(initial={"kind": form.cleaned_data["kind"]})
    status = 200 if result is not None else 400
    if request.htmx:
        context = {
            "shopper": shopper,
            "can_simulate": True,
            "form": form,
            "simulation": result,
            "skus": _suggested_skus(shopper),
            # The page's timeline and "for you" card are swapped too (htmx out-of-band).
            "oob_updates": result is not None,
            "for_you_items": after.items if after is not None else [],
            "timeline": shopper_selectors.timeline(shopper=shopper),
            "event_count": shopper_selectors.event_count(shopper=shopper),
        }
        return render(request, "dashboard/partials/simulate.html", context, status=status)
    context = {**_shopper_context(shopper), "form": form, "simulation": result}
    context["can_simulate"] = True
    return render(request, "dashboard/shopper_detail.html", context, status=status)


def _shopper_or_404(external_id: str):
    if unstorable(external_id):  # no stored key holds NUL; PostgreSQL would refuse the query
        raise Http404("No such shopper.")
    shopper = shopper_selectors.shopper_with_interests(external_id=external_id)
    if shopper is None:
        raise Http404(f"No shopper {external_id!r}.")
    return shopper


def _shopper_context(shopper) -> dict:
    now = timezone.now()
    slots = [
        (slot.name, slot.title, recommend(shopper=shopper, slot=slot.name, k=SLOT_K, now=now))
        for slot in shopper_page_slots()
    ]
    return {
        "shopper": shopper,
        "slots": slots,
        "timeline": shopper_selectors.timeline(shopper=shopper),
        "event_count": shopper_selectors.event_count(shopper=shopper),
        "form": SimulateEventForm(),
        "skus": _suggested_skus(shopper, slots=slots),
    }


def _suggested_skus(shopper, *, slots=None) -> list[tuple[str, str]]:
    """SKUs offered by the simulate form: the shopper's current recommendations."""
    if slots is None:
        now = timezone.now()
        slots = [
            (s, "", recommend(shopper=shopper, slot=s, k=SLOT_K, now=now))
            for s in ("for_you", "trending")
        ]
    seen: dict[str, str] = {}
    for _slot, _title, result in slots:
        for item in result.items:
            seen.setdefault(item.product.sku, item.product.title)
    return list(seen.items())
