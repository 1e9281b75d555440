"""The product list's filters: category (with its sub-categories), stock, promotions."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from catalog.models import Category, CategoryTree, Product, Promotion


class _TrueOrFalse(forms.TypedChoiceField):
    """Absent means no filter; present it must say ``true`` or ``false``: ``?in_stock=`` is as
    much a mistake as ``?in_stock=yes`` and is refused the same way."""

    def clean(self, value: Any) -> Any:
        if value == "":
            # The choice field's own code, so the error is the one the schema documents.
            raise forms.ValidationError(
                "Give true or false, or leave the parameter out.", code="invalid_choice"
            )
        return super().clean(value)


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false`` only: django-filter's BooleanFilter reads anything else as "no
    filter", so a typo would silently return every product."""

    field_class = _TrueOrFalse

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ("", None):
            return qs
        return super().filter(qs, value)


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(
        method="filter_category", help_text="Category slug; sub-categories are included."
    )
    brand = django_filters.CharFilter(field_name="brand", lookup_expr="iexact")
    is_active = StrictBooleanFilter(field_name="is_active")
    in_stock = StrictBooleanFilter(
        method="filter_in_stock", help_text="Stock not tracked or above zero."
    )
    promotion = django_filters.NumberFilter(
        method="filter_promotion", help_text="Promotion id: its products and categories."
    )
    on_promotion = StrictBooleanFilter(
        method="filter_on_promotion", help_text="In a promotion active right now."
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        root = Category.objects.filter(slug=value).first()
        if root is None:
            return queryset.none()
        return queryset.filter(category_id__in=CategoryTree.load().with_descendants({root.pk}))

    def filter_in_stock(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        in_stock = Q(stock__isnull=True) | Q(stock__gt=0)
        return queryset.filter(in_stock) if value else queryset.exclude(in_stock)

    def filter_promotion(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if value != int(value) or not 1 <= value < 2**63:
            # The schema says int64 id; beyond it is a client error, not "no products".
            raise ValidationError({"promotion": ["A promotion id, a whole number ≥ 1."]})
        return queryset.filter(Promotion.objects.filter(pk=int(value)).covering())

    def filter_on_promotion(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        condition = Promotion.objects.active(at=timezone.now()).covering()
        return queryset.filter(condition) if value else queryset.exclude(condition)
