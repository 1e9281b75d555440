"""The placements pages: each placement's rules in the order they apply, a preview of its list
before and after the draft rules for one shopper, and publishing a draft."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.access import require_permission, staff_page
from dashboard.forms import PlacementPreviewForm, WhatIfForm
from dashboard.views.whatif import draft_choices
from placements.permissions import EDIT_PERMISSION, PUBLISH_PERMISSION, VIEW_PERMISSION
from placements.rule_services import publish_rule
from placements.selectors import (
    latest_whatif,
    placement_list,
    placement_named,
    rule_on,
    rules_of,
)
from placements.services import MissingContext, preview_placement
from recommender.serving.products import ProductNotFound


@staff_page
@require_GET
def placements(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/placements.html", {"placements": placement_list()})


@staff_page
@require_GET
def placement_detail(request: HttpRequest, name: str) -> HttpResponse:
    placement = _placement(name)
    asked = bool({"shopper", "product", "cart"} & set(request.GET))
    form = PlacementPreviewForm(request.GET if asked else None)
    preview = None
    if form.is_valid():
        try:
            now = timezone.now()
            preview = preview_placement(placement=placement, now=now, **form.cleaned_data)
        except MissingContext as exc:
            form.add_error(exc.field, str(exc))
        except ProductNotFound:
            form.add_error("product", "No product has this sku.")
    whatif = latest_whatif(placement=placement)
    context = {
        "placement": placement,
        "rules": rules_of(placement=placement),
        "form": form,
        "preview": preview,
        "can_edit": request.user.has_perm(EDIT_PERMISSION),
        "can_publish": request.user.has_perm(PUBLISH_PERMISSION),
        "can_whatif": request.user.has_perm(VIEW_PERMISSION),
        "whatif_form": WhatIfForm(drafts=draft_choices(placement)),
        "whatif": whatif,
        # The drafts the newest finished what-if tried: its sentence shows beside their Publish.
        "whatif_rule_ids": _tried(whatif),
    }
    return render(request, "dashboard/placement_detail.html", context)


@staff_page
@require_http_methods(["POST"])
def publish(request: HttpRequest, name: str, rule_id: int) -> HttpResponse:
    """Make a draft rule live, checked again first; a refusal says why and changes nothing."""
    require_permission(request, PUBLISH_PERMISSION)
    placement = _placement(name)
    rule = rule_on(placement=placement, rule_id=rule_id)
    if rule is None:
        raise Http404("No such rule on this placement.")
    try:
        publish_rule(rule=rule)
    except ValidationError as exc:
        messages.error(request, f"{rule.name} was not published: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"{rule.name} is live from the next request.")
    return redirect("placement-detail", name=placement.name)


def _tried(whatif) -> set[int]:
    if whatif is None or whatif.status != "succeeded":
        return set()
    return {rule["id"] for rule in whatif.result.get("facts", {}).get("draft_rules", [])}


def _placement(name: str):
    placement = placement_named(name=name)
    if placement is None:
        raise Http404("No placement by this name.")
    return placement
