"""Placements in the admin: a merchandiser sets each one up here."""

from __future__ import annotations

from django.contrib import admin

from placements.models import Placement


@admin.register(Placement)
class PlacementAdmin(admin.ModelAdmin):
    list_display = ("name", "title", "strategy", "k", "context", "is_active")
    list_filter = ("is_active", "context", "strategy")
    search_fields = ("name", "title")
    fieldsets = (
        (None, {"fields": ("name", "title", "strategy", "k", "context", "fallback", "is_active")}),
        (
            "What it never shows, and how diverse it is",
            {
                "fields": (
                    "exclude_in_cart",
                    "exclude_bought",
                    "max_per_category",
                    "max_per_brand",
                    "min_relevance",
                )
            },
        ),
    )
