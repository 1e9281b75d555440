"""Dashboard forms that drive recommendations: simulate an event, preview, compare versions."""

from __future__ import annotations

from django import forms

from behavior.kinds import EVENT_KINDS
from behavior.models import EventKind, Shopper
from catalog.models import Product
from recommender.models import ModelVersion

# The kinds the table offers for simulation (behavior/kinds.py: simulate_as).
SIMULATED_KINDS = [
    (name, kind.simulate_as) for name, kind in EVENT_KINDS.items() if kind.simulate_as
]


class SimulateEventForm(forms.Form):
    sku = forms.CharField(
        label="Product SKU",
        max_length=64,
        widget=forms.TextInput(attrs={"list": "simulate-skus", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(label="Event", choices=SIMULATED_KINDS, initial=EventKind.VIEW.value)

    def clean_sku(self) -> str:
        sku = self.cleaned_data["sku"].strip()
        if not Product.objects.filter(sku=sku).exists():
            raise forms.ValidationError(f"No product has the SKU {sku!r}.")
        return sku


class ShopperPickForm(forms.Form):
    shopper = forms.CharField(
        label="Shopper external id",
        max_length=128,
        widget=forms.TextInput(attrs={"placeholder": "e.g. 12346", "type": "search"}),
    )

    def clean_shopper(self) -> Shopper:
        external_id = self.cleaned_data["shopper"].strip()
        shopper = Shopper.objects.filter(external_id=external_id).first()
        if shopper is None:
            raise forms.ValidationError(f"No shopper has the external id {external_id!r}.")
        return shopper


class CompareForm(forms.Form):
    a = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), label="Version A")
    b = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), label="Version B")

    def __init__(self, *args, versions, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("a", "b"):
            self.fields[name].queryset = versions
            self.fields[name].label_from_instance = _version_label

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("a") and cleaned.get("a") == cleaned.get("b"):
            raise forms.ValidationError("Pick two different versions to compare.")
        return cleaned


def _version_label(version: ModelVersion) -> str:
    return f"{version.label} ({version.get_status_display()})"
