"""The catalog admin's list filters: status, stock, points, promotions (one query each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.db.models import Case, CharField, Q, QuerySet, Value, When
from django.http import HttpRequest
from django.utils import timezone

from catalog.models import Product, Promotion


class ActiveFilter(admin.SimpleListFilter):
    """``is_active`` in words: Django's own filter reads "By is active" and "Yes"/"No"."""

    title = "status"
    parameter_name = "active"
    options = (("yes", "Active"), ("no", "Inactive"))

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(self.options)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(is_active=self.value() == "yes")
        return queryset


class SwitchedOnFilter(ActiveFilter):
    """A promotion's own on/off switch (its status filter already covers the dates)."""

    title = "switched on or paused"
    options = (("yes", "Switched on"), ("no", "Paused"))


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("in", "In stock"), ("out", "Out of stock"), ("untracked", "Not tracked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        lookups = {
            "in": Q(stock__gt=0),
            "out": Q(stock__lte=0),
            "untracked": Q(stock__isnull=True),
        }
        return queryset.filter(lookups[self.value()]) if self.value() in lookups else queryset


class RedeemableFilter(admin.SimpleListFilter):
    title = "redeemable with points"
    parameter_name = "redeemable"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        if self.value() in ("yes", "no"):
            return queryset.filter(points_price__isnull=self.value() == "no")
        return queryset


class ActivePromotionFilter(admin.SimpleListFilter):
    title = "in an active promotion"
    parameter_name = "promoted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        if self.value() not in ("yes", "no"):
            return queryset
        # A subquery on pk keeps the changelist free of the duplicate rows an m2m join brings.
        covering = Promotion.objects.active(at=timezone.now()).covering()
        promoted = Product.objects.filter(covering).values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=promoted)
        return queryset.exclude(pk__in=promoted)


class PromotionStatus:
    ACTIVE, UPCOMING, EXPIRED, PAUSED = "active", "upcoming", "expired", "paused"


def status_annotation(*, at: datetime) -> Case:
    # The same rules as PromotionQuerySet.active/upcoming/expired, evaluated once in SQL.
    return Case(
        When(ends_at__lte=at, then=Value(PromotionStatus.EXPIRED)),
        When(is_active=False, then=Value(PromotionStatus.PAUSED)),
        When(starts_at__gt=at, then=Value(PromotionStatus.UPCOMING)),
        default=Value(PromotionStatus.ACTIVE),
        output_field=CharField(),
    )


class PromotionStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (PromotionStatus.ACTIVE, "Active now"),
            (PromotionStatus.UPCOMING, "Upcoming"),
            (PromotionStatus.PAUSED, "Paused"),
            (PromotionStatus.EXPIRED, "Expired"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Promotion]) -> QuerySet[Promotion]:
        now = timezone.now()
        if self.value() == PromotionStatus.ACTIVE:
            return queryset.active(at=now)
        if self.value() == PromotionStatus.UPCOMING:
            return queryset.upcoming(at=now)
        if self.value() == PromotionStatus.EXPIRED:
            return queryset.expired(at=now)
        if self.value() == PromotionStatus.PAUSED:
            return queryset.filter(is_active=False, ends_at__gt=now)
        return queryset
