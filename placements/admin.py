"""Placements in the admin: a merchandiser sets each one up here."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from placements.models import Placement, Rule, RuleState
from placements.permissions import PUBLISH_PERMISSION
from placements.rule_checks import placement_errors


@admin.register(Placement)
class PlacementAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "strategy", "k", "context", "is_active")
    list_filter = ("is_active", "context", "strategy")
    search_fields = ("name", "title")
    fieldsets = (
        (None, {"fields": ("name", "title", "strategy", "k", "context", "fallback", "is_active")}),
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


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = (
            *("name", "kind", "placements", "state", "priority"),
            *("starts_at", "ends_at", "countries", "segment", "audience"),
            *("category", "brand", "tag", "price_min", "price_max"),
            *("price_relation", "price_percent", "min_stock", "on_promotion"),
            *("product", "position", "strength", "share_count", "share_percent"),
            *("rotation_shows", "rotation_hours"),
        )

    def _post_clean(self) -> None:
        # The checks against placements need the instance built from the form (done here).
        super()._post_clean()
        placements = self.cleaned_data.get("placements") or []
        for field, message in placement_errors(self.instance, placements).items():
            self.add_error(field if field in self.fields else None, message)


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("name", "kind", "state", "priority", "starts_at", "ends_at")
    list_filter = ("state", "kind", "placements")
    search_fields = ("name",)
    filter_horizontal = ("placements",)
    raw_id_fields = ("product",)
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
