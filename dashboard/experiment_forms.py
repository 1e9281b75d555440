"""The A/B test creation form: the test and its plan, then one small form per variant (the
first is the control); blank variant rows are ignored. The service checks everything again."""

from __future__ import annotations

import json

from django import forms

from placements.experiments.selectors import METRIC_CHOICES, VARIANT_KIND_CHOICES
from placements.experiments.services import Plan, VariantSpec
from placements.selectors import placement_list

VARIANT_ROWS = 4


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=120)
    placement = forms.ChoiceField()
    primary_metric = forms.ChoiceField(choices=METRIC_CHOICES)
    guardrails = forms.MultipleChoiceField(
        choices=METRIC_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
    baseline_rate = forms.FloatField(initial=0.05, help_text="The control's expected rate.")
    revenue_cv = forms.FloatField(initial=5.0, help_text="Revenue: standard deviation / mean.")
    minimum_detectable_effect = forms.FloatField(initial=0.05, help_text="0.05 = +5 %.")
    alpha = forms.FloatField(initial=0.05)
    power = forms.FloatField(initial=0.8)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["placement"].choices = [(p.name, p.name) for p in placement_list()]

    def plan(self) -> Plan:
        data = self.cleaned_data
        return Plan(
            primary_metric=data["primary_metric"],
            guardrails=tuple(data["guardrails"]),
            baseline_rate=data["baseline_rate"],
            revenue_cv=data["revenue_cv"],
            minimum_detectable_effect=data["minimum_detectable_effect"],
            alpha=data["alpha"],
            power=data["power"],
        )


class VariantForm(forms.Form):
    name = forms.SlugField(max_length=40)
    kind = forms.ChoiceField(choices=VARIANT_KIND_CHOICES)
    weight = forms.IntegerField(min_value=1, max_value=100, help_text="%")
    settings = forms.CharField(
        required=False, help_text='Settings variant: JSON, e.g. {"k": 8}.', max_length=2000
    )
    serving_model = forms.CharField(required=False, max_length=40, help_text='e.g. "als".')
    rule_ids = forms.CharField(
        required=False, max_length=400, help_text="Rule set: rule ids, comma-separated."
    )
    # Off by default so an untouched blank row stays unchanged (and is skipped).
    drop_live_rules = forms.BooleanField(required=False, help_text="Rule set: without them.")

    def clean_settings(self) -> dict:
        text = self.cleaned_data["settings"].strip()
        try:
            found = json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc.msg}.") from exc
        if not isinstance(found, dict):
            raise forms.ValidationError('A JSON object, e.g. {"k": 8}.')
        return found

    def clean_rule_ids(self) -> tuple[int, ...]:
        parts = [p.strip() for p in self.cleaned_data["rule_ids"].split(",") if p.strip()]
        if not all(p.isdigit() for p in parts):
            raise forms.ValidationError("Rule ids are whole numbers, comma-separated.")
        return tuple(int(p) for p in parts)

    def spec(self) -> VariantSpec:
        data = self.cleaned_data
        return VariantSpec(
            name=data["name"],
            kind=data["kind"],
            weight=data["weight"],
            settings=data["settings"],
            serving_model=data["serving_model"].strip(),
            rule_ids=data["rule_ids"],
            keep_live_rules=not data["drop_live_rules"],
        )


VariantFormSet = forms.formset_factory(VariantForm, extra=VARIANT_ROWS, max_num=VARIANT_ROWS)
