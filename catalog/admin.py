"""The merchandiser's admin for the catalog: category tree, products (CSV import), promotions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin
from import_export.formats import base_formats
from import_export.results import Result

from catalog.admin_filters import (
    ActiveFilter,
    ActivePromotionFilter,
    PromotionStatusFilter,
    RedeemableFilter,
    StockFilter,
    SwitchedOnFilter,
    status_annotation,
)
from catalog.availability import current_states, record_since
from catalog.models import Category, Product, Promotion
from catalog.resources import ProductResource
from catalog.services import end_promotions, set_products_active, set_promotions_active

admin.site.site_header = "Shelfwise"
admin.site.site_title = "Shelfwise"
admin.site.index_title = "Merchandising"

PATH_SEPARATOR = " › "
MAX_DEPTH = 32  # the same guard as Category.ancestors(): a corrupt tree must not loop forever


# --- Category tree helpers ------------------------------------------------------------------------
def _category_tree() -> dict[int, tuple[str, int | None]]:
    """Every category as {id: (name, parent_id)}: one query, however many rows a page shows."""
    rows = Category.objects.order_by().values_list("pk", "name", "parent_id")
    return {pk: (name, parent) for pk, name, parent in rows}


def _path_of(tree: dict[int, tuple[str, int | None]], category_id: int | None) -> str:
    names: list[str] = []
    node = category_id
    while node is not None and node in tree and len(names) < MAX_DEPTH:
        name, node = tree[node]
        names.append(name)
    return PATH_SEPARATOR.join(reversed(names))


def _lazy_paths() -> Callable[[int | None], str]:
    """A per-request path lookup that loads the tree on first use (none if the page is empty)."""
    tree: dict[int, tuple[str, int | None]] | None = None

    def path(category_id: int | None) -> str:
        nonlocal tree
        if category_id is None:
            return "—"
        if tree is None:
            tree = _category_tree()
        return _path_of(tree, category_id)

    return path


# --- Category -------------------------------------------------------------------------------------
@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "path", "slug", "parent", "product_count")
    search_fields = ("name", "slug")
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("parent",)
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("parent",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(_product_count=Count("products"))

    def get_list_display(self, request: HttpRequest) -> tuple[Any, ...]:
        paths = _lazy_paths()

        @admin.display(description="Path", ordering="name")
        def path(category: Category) -> str:
            return paths(category.pk)

        return ("name", path, "slug", "parent", "product_count")

    @admin.display(description="Path")
    def path(self, category: Category) -> str:
        # Only used outside the changelist (get_list_display swaps in the one-query version).
        return PATH_SEPARATOR.join([*(c.name for c in category.ancestors()), category.name])

    @admin.display(description="Products", ordering="_product_count")
    def product_count(self, category: Category) -> int:
        return category._product_count


# --- Product --------------------------------------------------------------------------------------
@admin.register(Product)
class ProductAdmin(ImportExportModelAdmin):
    resource_classes = [ProductResource]
    # The documented import_products format is CSV; one format keeps the form to one field.
    formats = [base_formats.CSV]
    # The package's export page with its inline handler and styles moved out (CSP).
    export_template_name = "admin/catalog/product/export.html"
    list_display = (
        "sku",
        "title",
        "category",
        "brand",
        "price_with_currency",
        "stock_display",
        "is_active",
        "points_price",
    )
    list_display_links = ("sku", "title")
    list_filter = (
        ActiveFilter,
        StockFilter,
        RedeemableFilter,
        ActivePromotionFilter,
        ("category", admin.RelatedOnlyFieldListFilter),
        "brand",
    )
    search_fields = ("sku", "title", "brand")
    search_help_text = "Part of a SKU, title or brand."
    list_select_related = ("category",)
    list_per_page = 50
    autocomplete_fields = ("category",)
    readonly_fields = ("created_at", "updated_at")
    actions = ("activate", "deactivate")
    fieldsets = (
        (None, {"fields": ("sku", "title", "description", "category", "brand", "image_url")}),
        ("Price and stock", {"fields": ("price", "currency", "stock", "points_price")}),
        ("Recommendations", {"fields": ("is_active", "tags", "attributes")}),
        ("History", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_list_display(self, request: HttpRequest) -> tuple[Any, ...]:
        paths = _lazy_paths()

        @admin.display(description="Category", ordering="category__name")
        def category(product: Product) -> str:
            return paths(product.category_id)

        return tuple(category if name == "category" else name for name in self.list_display)

    @admin.display(description="Price", ordering="price")
    def price_with_currency(self, product: Product) -> str:
        return f"{product.price} {product.currency}"

    @admin.display(description="Stock", ordering="stock")
    def stock_display(self, product: Product) -> str | int:
        return "not tracked" if product.stock is None else product.stock

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        # The form writes the product itself: its availability change is recorded as the
        # services record theirs, so a replay sees the catalogue as it stood.
        before = current_states(pks=[obj.pk]) if change else {}
        super().save_model(request, obj, form, change)
        record_since(before=before, at=obj.updated_at)

    @admin.action(description="Activate selected products", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected products", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        self._set_active(request, queryset, active=False)

    def _set_active(
        self, request: HttpRequest, queryset: QuerySet[Product], *, active: bool
    ) -> None:
        selected = queryset.count()
        changed = set_products_active(products=queryset, active=active)
        verb = "Activated" if active else "Deactivated"
        state = "active" if active else "inactive"
        self.message_user(
            request,
            f"{verb} {changed} of the {selected} selected product(s); "
            f"{selected - changed} already {state}.",
            messages.SUCCESS,
        )

    # An import creates and updates products (by sku): both permissions, as the API asks.
    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    # django-import-export: the confirmed import is all-or-nothing, like its dry run.
    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        data_kwargs = super().get_import_data_kwargs(**kwargs)
        # Without this a row that turned invalid between preview and confirm (someone edited
        # the catalog meanwhile) would be dropped silently while the other rows were stored.
        data_kwargs["rollback_on_validation_errors"] = True
        return data_kwargs

    def process_result(self, result: Result, request: HttpRequest) -> HttpResponse:
        if not (result.has_errors() or result.has_validation_errors()):
            return super().process_result(result, request)
        self.message_user(request, _failure_summary(result), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:catalog_product_import"))


def _failure_summary(result: Result, *, limit: int = 5) -> str:
    problems: list[str] = [f"row {row.number}: {row.error_dict}" for row in result.invalid_rows]
    problems += [f"row {number}: {errors[0].error}" for number, errors in result.row_errors()]
    problems += [str(error.error) for error in result.base_errors]
    shown = "; ".join(problems[:limit]) + ("; …" if len(problems) > limit else "")
    return f"Nothing was imported: {len(problems)} row(s) failed ({shown})."


# --- Promotion ------------------------------------------------------------------------------------
@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ("name", "discount", "window", "status", "priority", "is_active")
    list_filter = (PromotionStatusFilter, SwitchedOnFilter, "starts_at")
    search_fields = ("name",)
    autocomplete_fields = ("products", "categories")
    readonly_fields = ("created_at",)
    actions = ("end_now", "pause", "resume")
    fieldsets = (
        (None, {"fields": ("name", "discount_percent", "priority", "is_active")}),
        ("Window", {"fields": ("starts_at", "ends_at")}),
        ("What is on promotion", {"fields": ("products", "categories")}),
    )

    class Media:
        css = {"all": ("css/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Promotion]:
        return super().get_queryset(request).annotate(_status=status_annotation(at=timezone.now()))

    @admin.display(description="Discount", ordering="discount_percent")
    def discount(self, promotion: Promotion) -> str:
        # ":f" because Decimal("20").normalize() alone prints as 2E+1.
        return f"−{promotion.discount_percent.normalize():f}%"

    @admin.display(description="Window", ordering="starts_at")
    def window(self, promotion: Promotion) -> str:
        start, end = timezone.localtime(promotion.starts_at), timezone.localtime(promotion.ends_at)
        return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}"

    @admin.display(description="Status", ordering="_status")
    def status(self, promotion: Promotion) -> str:
        # Coloured by class (static/css/admin.css): the CSP refuses inline style attributes.
        return format_html(
            '<strong class="promotion-status status-{}">{}</strong>',
            promotion._status,
            promotion._status,
        )

    @admin.action(description="End now (active promotions only)", permissions=["change"])
    def end_now(self, request: HttpRequest, queryset: QuerySet[Promotion]) -> None:
        now = timezone.now()
        not_started = list(queryset.filter(starts_at__gte=now).values_list("name", flat=True))
        already_over = queryset.filter(ends_at__lte=now).count()
        ended = end_promotions(promotions=queryset, now=now)
        if ended:
            self.message_user(request, f"Ended {ended} promotion(s) as of now.", messages.SUCCESS)
        if not_started:
            self.message_user(
                request,
                f"Refused to end {len(not_started)} promotion(s) that have not started yet "
                f"({', '.join(not_started)}): pause them or change their window instead.",
                messages.WARNING,
            )
        if already_over:
            self.message_user(
                request, f"{already_over} promotion(s) had already ended.", messages.INFO
            )

    @admin.action(description="Pause selected promotions", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Promotion]) -> None:
        changed = set_promotions_active(promotions=queryset, active=False)
        self.message_user(request, f"Paused {changed} promotion(s).", messages.SUCCESS)

    @admin.action(description="Resume selected promotions", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Promotion]) -> None:
        changed = set_promotions_active(promotions=queryset, active=True)
        self.message_user(request, f"Resumed {changed} promotion(s).", messages.SUCCESS)
