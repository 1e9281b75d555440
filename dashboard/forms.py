"""Dashboard forms: search products and shoppers, simulate an event, preview, compare versions.

They read through each app's selectors; only the event kinds' enum comes from a models module.
"""

from __future__ import annotations

from django import forms

from behavior import selectors as behavior_selectors
from behavior.countries import country_name
from behavior.kinds import EVENT_KINDS
from catalog import selectors as catalog_selectors
from placements.services import parse_cart

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
    kind = forms.ChoiceField(label="Event", choices=SIMULATED_KINDS, initial="view")

    def clean_sku(self) -> str:
        sku = self.cleaned_data["sku"].strip()
        if not catalog_selectors.product_exists(sku=sku):
            raise forms.ValidationError(f"No product has the SKU {sku!r}.")
        return sku


class ShopperPickForm(forms.Form):
    shopper = forms.CharField(
        label="Shopper external id",
        max_length=128,
        widget=forms.TextInput(attrs={"placeholder": "e.g. 12346", "type": "search"}),
    )

    def clean_shopper(self):
        external_id = self.cleaned_data["shopper"].strip()
        shopper = behavior_selectors.shopper_by_external_id(external_id=external_id)
        if shopper is None:
            raise forms.ValidationError(f"No shopper has the external id {external_id!r}.")
        return shopper


class CompareForm(forms.Form):
    # The view hands in the versions to choose from (recommender.selectors.model_versions).
    a = forms.ModelChoiceField(queryset=None, label="Version A")
    b = forms.ModelChoiceField(queryset=None, label="Version B")

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


def _version_label(version) -> str:
    return f"{version.label} ({version.get_status_display()})"


class ProductSearchForm(forms.Form):
    q = forms.CharField(
        label="SKU or title",
        required=False,
        max_length=120,
        widget=forms.TextInput(
            attrs={"placeholder": "sku or words in the title", "type": "search"}
        ),
    )
    category = forms.ModelChoiceField(
        queryset=catalog_selectors.categories_by_name(),
        required=False,
        empty_label="Any category",
    )


class ShopperSearchForm(forms.Form):
    q = forms.CharField(
        label="External id",
        required=False,
        max_length=128,
        widget=forms.TextInput(attrs={"placeholder": "starts with…", "type": "search"}),
    )
    country = forms.ChoiceField(required=False)
    segment = forms.ChoiceField(required=False)

    def __init__(self, *args, countries: list[str], segments: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Codes in the query string, names on screen, sorted by name.
        named = sorted(((c, country_name(c)) for c in countries), key=lambda pair: pair[1])
        self.fields["country"].choices = [("", "Any country"), *named]
        self.fields["segment"].choices = [("", "Any segment"), *((s, s) for s in segments)]


class PlacementPreviewForm(forms.Form):
    """Who (and on which product, with which cart) to preview a placement for."""

    shopper = forms.CharField(label="As shopper", max_length=128, required=False)
    product = forms.CharField(label="On product (sku)", max_length=64, required=False)
    cart = forms.CharField(label="Cart (skus, comma-separated)", max_length=3250, required=False)

    def clean_cart(self) -> tuple[str, ...]:
        try:
            return parse_cart(self.cleaned_data["cart"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class WhatIfForm(forms.Form):
    """How many days of traffic to replay and which draft rules to try (none ticked: all)."""

    days = forms.IntegerField(label="Days", min_value=1, max_value=90, initial=7)
    rules = forms.TypedMultipleChoiceField(
        label="Drafts", coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, drafts: list[tuple[int, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rules"].choices = drafts
