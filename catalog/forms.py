"""Dashboard forms for products."""

from __future__ import annotations

from django import forms

from catalog.models import Category


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
        queryset=Category.objects.order_by("name"), required=False, empty_label="Any category"
    )
