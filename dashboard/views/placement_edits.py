"""Editing placements and rules without the admin: a rule's form (new rules start as drafts),
deleting and unpublishing a rule, and a placement's settings. Each form runs the model's
checks; a refused one shows the errors by field and stores nothing.

Permissions (``placements.permissions``): adding, changing and deleting rules and changing a
placement are each their own; a change to a live rule also needs publish, since shoppers see it.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dashboard.access import require_permission, staff_page
from dashboard.views.placements import (
    change_rule_state,
    placement_or_404,
    require_view,
    rule_or_404,
)
from placements.forms import DraftRuleForm, PlacementSettingsForm
from placements.permissions import (
    ADD_PERMISSION,
    DELETE_PERMISSION,
    EDIT_PERMISSION,
    PLACEMENT_EDIT_PERMISSION,
    live_change_permissions,
)
from placements.placement_services import save_placement
from placements.rule_services import delete_rule, save_rule, unpublish_rule


@staff_page
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest, name: str) -> HttpResponse:
    require_permission(request, ADD_PERMISSION)
    placement = placement_or_404(name)
    form = DraftRuleForm(request.POST or None, initial={"placements": [placement]})
    if request.method == "POST" and _saved(form):
        messages.success(request, f"{form.instance.name} is saved as a draft.")
        return redirect("placement-detail", name=placement.name)
    return _rule_page(request, placement, form, rule=None)


@staff_page
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, name: str, rule_id: int) -> HttpResponse:
    placement = placement_or_404(name)
    rule = rule_or_404(placement, rule_id)
    _require_rule_change(request, EDIT_PERMISSION, live=rule.is_live)
    form = DraftRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and _saved(form):
        messages.success(request, f"{rule.name} is saved.")
        return redirect("placement-detail", name=placement.name)
    return _rule_page(request, placement, form, rule=rule)


def _saved(form: DraftRuleForm) -> bool:
    """Store a valid form through the service (which checks again); False, with the reasons
    on the form, when it is refused."""
    if not form.is_valid():
        return False
    try:
        save_rule(
            rule=form.save(commit=False),
            placements=form.cleaned_data["placements"],
            save_related=form.save_m2m,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return False
    return True


def _rule_page(request, placement, form, *, rule) -> HttpResponse:
    context = {"placement": placement, "form": form, "rule": rule}
    return render(request, "dashboard/rule_form.html", context, status=400 if form.errors else 200)


@staff_page
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, name: str, rule_id: int) -> HttpResponse:
    placement = placement_or_404(name)
    rule = rule_or_404(placement, rule_id)
    _require_rule_change(request, DELETE_PERMISSION, live=rule.is_live)
    if request.method == "POST":
        delete_rule(rule=rule)
        messages.success(request, f"{rule.name} is deleted; its history can restore it.")
        return redirect("placement-detail", name=placement.name)
    return render(request, "dashboard/rule_delete.html", {"placement": placement, "rule": rule})


@staff_page
@require_http_methods(["POST"])
def rule_unpublish(request: HttpRequest, name: str, rule_id: int) -> HttpResponse:
    """Take a live rule back to a draft (publish permission: shoppers stop seeing it)."""
    return change_rule_state(
        request,
        name,
        rule_id,
        change=unpublish_rule,
        refused="stays live",
        done="is a draft again: shoppers no longer see it.",
    )


@staff_page
@require_http_methods(["GET", "POST"])
def placement_edit(request: HttpRequest, name: str) -> HttpResponse:
    require_permission(request, PLACEMENT_EDIT_PERMISSION)
    placement = placement_or_404(name)
    form = PlacementSettingsForm(request.POST or None, instance=placement)
    if request.method == "POST" and form.is_valid():
        try:
            save_placement(placement=form.save(commit=False))
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{placement.title} is saved; shoppers see it at once.")
            return redirect("placement-detail", name=placement.name)
    status = 400 if form.errors else 200
    context = {"placement": placement, "form": form}
    return render(request, "dashboard/placement_form.html", context, status=status)


def _require_rule_change(request: HttpRequest, permission: str, *, live: bool) -> None:
    require_view(request)
    for needed in (permission, *live_change_permissions(before_live=live, after_live=live)):
        require_permission(request, needed)
