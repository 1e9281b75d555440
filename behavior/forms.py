"""Dashboard forms for shoppers."""

from __future__ import annotations

from django import forms

from behavior.countries import country_name


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
