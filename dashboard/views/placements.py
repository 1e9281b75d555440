"""The placements pages: each placement's rules in the order they apply, a preview of its list
before and after the draft rules for one shopper, and publishing a draft. Every page needs the
view permission (``placements.permissions``); editing is in ``placement_edits``, history in
``placement_history``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.access import require_permission, staff_page
from dashboard.forms import PlacementPreviewForm, WhatIfForm
from placements.permissions import (
    ADD_PERMISSION,
    DELETE_PERMISSION,
    EDIT_PERMISSION,
    PLACEMENT_EDIT_PERMISSION,
    PUBLISH_PERMISSION,
    may_view,
)
from placements.rule_services import publish_rule
from placements.selectors import (
    latest_whatif,
    placement_list,
    placement_named,
    rule_on,
    rules_of,
)
from placements.services import MissingContext, preview_placement
from placements.whatif_runs import fail_stopped_whatifs
from recommender.serving.products import ProductNotFound


@staff_page
@require_GET
def placements(request: HttpRequest) -> HttpResponse:
    require_view(request)
    return render(request, "dashboard/placements.html", {"placements": placement_list()})


@staff_page
@require_GET
def placement_detail(request: HttpRequest, name: str) -> HttpResponse:
    require_view(request)
    placement = placement_or_404(name)
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
    user = request.user
    # A what-if whose worker died shows as failed, with why, rather than "running" for ever.
    fail_stopped_whatifs(now=timezone.now(), placement=placement)
    whatif = latest_whatif(placement=placement)
    context = {
        "placement": placement,
        "rules": rules_of(placement=placement),
        "form": form,
        "preview": preview,
        "can_add": user.has_perm(ADD_PERMISSION),
        "can_edit": user.has_perm(EDIT_PERMISSION),
        "can_delete": user.has_perm(DELETE_PERMISSION),
        "can_edit_placement": user.has_perm(PLACEMENT_EDIT_PERMISSION),
        "can_publish": user.has_perm(PUBLISH_PERMISSION),
        "can_whatif": may_view(user),
        # Asked again, the days default to the last run's, which the section's heading names.
        "whatif_form": WhatIfForm(
            drafts=draft_choices(placement), initial={"days": whatif.days} if whatif else None
        ),
        "whatif": whatif,
        # The drafts the newest finished what-if tried: its sentence shows beside their Publish.
        "whatif_rule_ids": _tried(whatif),
    }
    return render(request, "dashboard/placement_detail.html", context)


@staff_page
@require_http_methods(["POST"])
def publish(request: HttpRequest, name: str, rule_id: int) -> HttpResponse:
    """Make a draft rule live, checked again first; a refusal says why and changes nothing."""
    return change_rule_state(
        request,
        name,
        rule_id,
        change=publish_rule,
        refused="was not published",
        done="is live from the next request.",
    )


def change_rule_state(
    request: HttpRequest, name: str, rule_id: int, *, change, refused: str, done: str
) -> HttpResponse:
    """Publish or unpublish (publish permission either way: shoppers see the change at once);
    the rule is checked again first, and a refusal says why and changes nothing."""
    require_permission(request, PUBLISH_PERMISSION)
    placement = placement_or_404(name)
    rule = rule_or_404(placement, rule_id)
    try:
        change(rule=rule)
    except ValidationError as exc:
        messages.error(request, f"{rule.name} {refused}: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"{rule.name} {done}")
    return redirect("placement-detail", name=placement.name)


def _tried(whatif) -> set[int]:
    if whatif is None or whatif.status != "succeeded":
        return set()
    return {rule["id"] for rule in whatif.result.get("facts", {}).get("draft_rules", [])}


def draft_choices(placement) -> list[tuple[int, str]]:
    """(id, name) of the placement's draft rules, in the order they apply."""
    return [(r.pk, r.name) for r in rules_of(placement=placement) if r.state == "draft"]


def require_view(request: HttpRequest) -> None:
    """403 unless the user may see placements (view, or change, permission)."""
    if not may_view(request.user):
        raise PermissionDenied("Placements need the 'placements.view_rule' permission.")


def placement_or_404(name: str):
    placement = placement_named(name=name)
    if placement is None:
        raise Http404("No placement by this name.")
    return placement


def rule_or_404(placement, rule_id: int):
    rule = rule_on(placement=placement, rule_id=rule_id)
    if rule is None:
        raise Http404("No such rule on this placement.")
    return rule
