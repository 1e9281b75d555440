"""A placement's history: every change to it and to its rules, newest first, each field before
and after, and "Revert to this version", which is itself recorded as a change."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.access import page_of, require_permission, staff_page
from dashboard.views.placements import placement_or_404, require_view
from placements.history import described, placement_changes, record_of, was_on
from placements.permissions import (
    ADD_PERMISSION,
    EDIT_PERMISSION,
    PLACEMENT_EDIT_PERMISSION,
    live_change_permissions,
)
from placements.placement_services import revert_placement
from placements.rule_services import revert_rule
from placements.selectors import rule_by_id

HISTORY_PER_PAGE = 20


@staff_page
@require_GET
def placement_history(request: HttpRequest, name: str) -> HttpResponse:
    require_view(request)
    placement = placement_or_404(name)
    page = page_of(request, placement_changes(placement=placement), per_page=HISTORY_PER_PAGE)
    context = {
        "placement": placement,
        "page": page,
        "changes": described(list(page.object_list)),
        "can_edit_rules": request.user.has_perm(EDIT_PERMISSION),
        "can_edit_placement": request.user.has_perm(PLACEMENT_EDIT_PERMISSION),
    }
    return render(request, "dashboard/placement_history.html", context)


@staff_page
@require_http_methods(["POST"])
def revert(request: HttpRequest, name: str, kind: str, record_id: int) -> HttpResponse:
    """Restore the placement or rule as version ``record_id`` had it; a refusal says why and
    stores nothing."""
    require_view(request)
    placement = placement_or_404(name)
    record = record_of(kind=kind, record_id=record_id)
    if record is None:
        raise Http404("No such version.")
    if kind == "placement":
        if record.id != placement.pk:
            raise Http404("That version is not of this placement.")
        require_permission(request, PLACEMENT_EDIT_PERMISSION)
        action = revert_placement
    else:
        if not was_on(record, placement):
            raise Http404("That rule was never on this placement.")
        current = rule_by_id(rule_id=record.id)
        require_permission(request, EDIT_PERMISSION if current else ADD_PERMISSION)
        live = live_change_permissions(
            before_live=current is not None and current.is_live, after_live=record.instance.is_live
        )
        for needed in live:
            require_permission(request, needed)
        action = revert_rule
    try:
        action(record=record)
    except ValidationError as exc:
        messages.error(request, f"{record.name} was not reverted: {' '.join(exc.messages)}")
    else:
        messages.success(request, f"{record.name} is back as it was; shoppers see it at once.")
    return redirect("placement-history", name=placement.name)
