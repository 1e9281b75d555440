"""A/B tests in the admin: read and adjust them; the dashboard's forms create, start, stop and
promote them through the services (which check everything)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from placements.experiments.models import FIXED_ONCE_STARTED, Experiment, ExperimentState, Variant
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

    # A started (or ended) test's variants are read-only: shoppers are assigned by a hash over
    # their weights in order, and each variant's numbers must describe one treatment. The model
    # refuses such changes too (Variant.fixed_changes); here they are not even offered.
    def has_add_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _is_draft(obj) and super().has_delete_permission(request, obj)


def _is_draft(experiment: Experiment | None) -> bool:
    return experiment is None or experiment.state == ExperimentState.DRAFT


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
        if not _is_draft(obj):  # a started test's plan is fixed
            return (*self.readonly_fields, "placement", "primary_metric", "alpha", "power")
        return self.readonly_fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        experiment = self.get_object(request, object_id)
        if request.method == "GET" and experiment is not None and not _is_draft(experiment):
            fixed = ", ".join(FIXED_ONCE_STARTED)
            messages.info(
                request,
                f"The variants are read-only since this test started ({fixed}, adding or "
                "removing one): a change would move shoppers between variants or mix two "
                "treatments in one variant's results. Create a new test to try another.",
            )
        return super().change_view(request, object_id, form_url, extra_context)
