"""A/B tests in the admin: read and adjust them; the dashboard's forms create, start, stop and
promote them through the services (which check everything)."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from placements.experiments.models import Experiment, Variant
from placements.experiments.services import TOTAL_WEIGHT


class VariantFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(kept) < 2:
            raise forms.ValidationError("At least two variants: a control and a challenger.")
        total = sum(f.cleaned_data.get("weight") or 0 for f in kept)
        if total != TOTAL_WEIGHT:
            raise forms.ValidationError(f"The weights sum to {total}; they must sum to 100.")


class VariantInline(admin.TabularInline):
    model = Variant
    formset = VariantFormSet
    extra = 0
    fields = ("position", "name", "kind", "weight", "settings", "rules", "keep_live_rules")


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("name", "placement", "state", "primary_metric", "started_at", "stopped_at")
    list_filter = ("state", "primary_metric")
    search_fields = ("name", "placement__name")
    inlines = (VariantInline,)
    # The state moves through the dashboard's start/stop (one running test per placement is
    # checked there and by a constraint); the record of a promotion is history.
    readonly_fields = (
        *("state", "salt", "planned_sample", "started_at", "stopped_at"),
        *("promoted_variant", "promoted_at", "promotion"),
    )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state != "draft":  # a started test's plan is fixed
            return (*self.readonly_fields, "placement", "primary_metric", "alpha", "power")
        return self.readonly_fields
