"""Forms for placements and rules, shared by the admin and the dashboard.

They list the fields they leave out rather than the ones they show, so a field added to a
model later appears in both without an edit here. Each runs the model's ``clean()``
(``placements.rule_checks``) and the checks against placements, so a refused form names the
field and stores nothing.
"""

from __future__ import annotations

from django import forms

from catalog.models import Product
from placements.models import Placement, Rule, strategy_names
from placements.rule_checks import placement_errors, rules_past_k


class RuleForm(forms.ModelForm):
    """Every field of a rule, its state included (the admin, for those who may publish)."""

    product = forms.ModelChoiceField(
        queryset=Product.objects.all(),
        to_field_name="sku",
        required=False,
        label="Product (sku)",
        help_text="Pin: this product. Empty: the best-ranked product matching the attributes.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"invalid_choice": "No product has this sku."},
    )

    class Meta:
        model = Rule
        exclude = ("created_at", "updated_at")  # noqa: DJ006 (see the module docstring)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A sku, not a list of every product: a shop holds thousands.
        product = self.instance.product if self.instance.product_id else None
        if product is not None and "product" not in self.initial:
            self.initial["product"] = product.sku

    def _post_clean(self) -> None:
        # The checks against placements need the instance built from the form (done here).
        super()._post_clean()
        placements = self.cleaned_data.get("placements") or []
        for field, message in placement_errors(self.instance, placements).items():
            self.add_error(field if field in self.fields else None, message)


class DraftRuleForm(RuleForm):
    """A rule as the dashboard edits it: the state is changed only by publishing, so a new
    rule starts as a draft and an edit keeps the state it had."""

    class Meta(RuleForm.Meta):
        exclude = (*RuleForm.Meta.exclude, "state")  # noqa: DJ006 (see the module docstring)
        # The admin has its own date and time pickers; the dashboard uses the browser's.
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }


class PlacementForm(forms.ModelForm):
    """A placement: the model's checks, and no k that would cut off one of its rules."""

    strategy = forms.ChoiceField(
        choices=(), help_text=Placement._meta.get_field("strategy").help_text
    )

    class Meta:
        model = Placement
        exclude = ("created_at", "updated_at")  # noqa: DJ006 (see the module docstring)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["strategy"].choices = [(name, name) for name in strategy_names()]

    def _post_clean(self) -> None:
        super()._post_clean()
        for field, message in rules_past_k(self.instance).items():
            self.add_error(field if field in self.fields else None, message)


class PlacementSettingsForm(PlacementForm):
    """A placement's settings as the dashboard edits them. Its name is what the shop's front
    end asks for, so renaming stays in the admin."""

    class Meta(PlacementForm.Meta):
        exclude = (*PlacementForm.Meta.exclude, "name")  # noqa: DJ006 (see the module docstring)
