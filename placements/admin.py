"""Placements in the admin: a merchandiser sets each one up here."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from placements.forms import PlacementForm, RuleForm
from placements.history import record_change
from placements.models import Placement, Rule, RuleState, WhatIfRun
from placements.permissions import PUBLISH_PERMISSION


class OneRecordPerSave(SimpleHistoryAdmin):
    """History in the admin; a save and its many-to-many fields leave one record, as in the
    dashboard (``placements.history.one_record``). Placements have no many-to-many field, so
    the library's one record per save is already that."""

    def save_model(self, request, obj, form, change) -> None:
        obj.skip_history_when_saving = True
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        record_change(form.instance, created=not change)


@admin.register(Placement)
class PlacementAdmin(SimpleHistoryAdmin):
    form = PlacementForm
    list_display = ("name", "title", "strategy", "k", "context", "is_active")
    list_filter = ("is_active", "context", "strategy")
    search_fields = ("name", "title")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    *("name", "title", "strategy", "serving_model", "k", "context"),
                    *("fallback", "is_active"),
                )
            },
        ),
        (
            "What it never shows, and how diverse it is",
            {
                "fields": (
                    "exclude_in_cart",
                    "exclude_bought",
                    "exclude_shown_hours",
                    "max_per_category",
                    "max_per_brand",
                    "min_relevance",
                )
            },
        ),
    )

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple-history accepts a revert from anyone who may view: only editors revert.
        if request.method == "POST" and not self.has_change_permission(request):
            raise PermissionDenied("Reverting a placement needs the change permission.")
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(Rule)
class RuleAdmin(OneRecordPerSave):
    form = RuleForm
    list_display = ("name", "kind", "state", "priority", "starts_at", "ends_at")
    list_filter = ("state", "kind", "placements")
    search_fields = ("name",)
    filter_horizontal = ("placements",)
    fieldsets = (
        (None, {"fields": ("name", "kind", "placements", "state", "priority")}),
        (
            "When and for whom",
            {"fields": ("starts_at", "ends_at", "countries", "segment", "audience")},
        ),
        (
            "Which products it matches",
            {
                "fields": (
                    "category",
                    "brand",
                    "tag",
                    "price_min",
                    "price_max",
                    "price_relation",
                    "price_percent",
                    "min_stock",
                    "on_promotion",
                )
            },
        ),
        (
            "What it does",
            {
                "fields": (
                    *("product", "position", "strength", "share_count", "share_percent"),
                    *("rotation_shows", "rotation_hours"),
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # Without the publish permission a merchandiser edits drafts only: what is live stays.
        if request.user.has_perm(PUBLISH_PERMISSION):
            return ()
        return ("state",)

    def has_change_permission(self, request, obj=None) -> bool:
        allowed = super().has_change_permission(request, obj)
        if obj is not None and obj.state == RuleState.LIVE:
            return allowed and request.user.has_perm(PUBLISH_PERMISSION)
        return allowed

    def revert_disabled(self, request, obj=None) -> bool:
        # The admin's revert form takes today's placements and checks publishing against the
        # old version only: rules are reverted on the dashboard's history page instead.
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":  # simple-history accepts a revert from view-only users
            raise PermissionDenied("Revert a rule on its placement's history page.")
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(WhatIfRun)
class WhatIfRunAdmin(admin.ModelAdmin):
    """The history of what-ifs, read-only: runs start from the placement page or the command."""

    list_display = ("id", "placement", "days", "status", "requested_by", "created_at")
    list_filter = ("status", "placement")
    readonly_fields = [field.name for field in WhatIfRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


from placements.experiments import admin as _experiments_admin  # noqa: E402, F401  (registers)
