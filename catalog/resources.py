"""CSV import/export of products for the admin (django-import-export).

The columns are the documented ``import_products`` format, so a file exported here can be edited
in a spreadsheet and loaded back by either the admin or the management command:

    sku,title,description,category,brand,price,currency,stock,is_active,points_price,attributes,
    image_url,tags

Rows are keyed by ``sku``: a known sku updates the product, an unknown one creates it. Cells
are read with the command's rules (catalog.services): empty currency is GBP, empty is_active
is true, empty stock is "not tracked", ``tags`` are comma-separated ("summer,gift idea").
``category`` is a slug or a "Home/Kitchen/Mugs" path of an existing category: unlike the
command, the admin reports an unknown one instead of creating it.
Text cells that a spreadsheet would run as a formula are exported with a leading apostrophe, which
an import drops again (config.csv_safety).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader

from catalog.availability import current_states, record_since
from catalog.models import Category, Product
from catalog.services import CATEGORY_SEPARATOR, FALSE_WORDS, TRUE_WORDS
from config.csv_safety import escape_formula, unescape_formula

COLUMNS = (
    "sku",
    "title",
    "description",
    "category",
    "brand",
    "price",
    "currency",
    "stock",
    "is_active",
    "points_price",
    "attributes",
    "image_url",
    "tags",
)
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class StrictDecimalWidget(widgets.DecimalWidget):
    """A decimal, or a clear per-row error (the stock widget raises a bare InvalidOperation)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Decimal | None:
        if _is_empty(value):
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number.") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number.")
        return number


class StrictIntegerWidget(widgets.IntegerWidget):
    """A whole number; '2.5' is an error rather than being truncated to 2."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> int | None:
        if _is_empty(value):
            return None
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number.") from None


class StrictBooleanWidget(widgets.BooleanWidget):
    """true/false, yes/no, 1/0…; the stock widget reads anything unknown (even 'yes') as False."""

    # The words the import_products command accepts, so one file works in both.
    TRUE = TRUE_WORDS
    FALSE = FALSE_WORDS

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        if _is_empty(value):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValueError(f"{value!r} is not a yes/no value (use true or false).")


class AttributesWidget(widgets.JSONWidget):
    """A JSON object such as {"colour": "red"}; empty means no attributes."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if _is_empty(value):
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"Not valid JSON: {error.msg} at character {error.pos}.") from None
        if not isinstance(parsed, dict):
            raise ValueError('Must be a JSON object, e.g. {"colour": "red"}.')
        return parsed


class TagsWidget(widgets.Widget):
    """Tags in one cell, comma-separated ("summer,gift idea"), as ``import_products`` reads
    them; a JSON list is accepted too. The model checks and normalises them per row."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        if isinstance(value, list):
            return value
        if _is_empty(value):
            return []
        text = str(value).strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"Not valid JSON: {error.msg} at character {error.pos}.") from None
            if not isinstance(parsed, list):
                raise ValueError('A comma-separated list, e.g. "summer,gift idea".')
            return parsed
        return [tag.strip() for tag in text.split(",") if tag.strip()]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return ",".join(value or [])


class CategoryWidget(widgets.ForeignKeyWidget):
    """An existing category, by slug ("mugs") or by path ("Home/Kitchen/Mugs"); exports the slug.

    Unlike the ``import_products`` command this never creates categories: in a form a typo is
    far likelier than a new branch, and it should be reported, not silently grow the tree.
    """

    def __init__(self) -> None:
        super().__init__(Category, field="slug")
        self._by_slug: dict[str, Category] | None = None
        self._by_name: dict[tuple[int | None, str], Category] = {}

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Category | None:
        if _is_empty(value):
            return None
        text = str(value).strip()
        if self._by_slug is None:
            # One query per import, not one per row.
            categories = list(Category.objects.all())
            self._by_slug = {c.slug: c for c in categories}
            self._by_name = {(c.parent_id, c.name.casefold()): c for c in categories}
        if CATEGORY_SEPARATOR not in text:
            if text not in self._by_slug:
                raise ValueError(f"No category with slug {text!r}.")
            return self._by_slug[text]
        node: Category | None = None
        for name in (part.strip() for part in text.split(CATEGORY_SEPARATOR) if part.strip()):
            found = self._by_name.get((node.pk if node else None, name.casefold()))
            if found is None:
                raise ValueError(f"No category {name!r} in the path {text!r}.")
            node = found
        return node


class CurrencyWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        code = "" if _is_empty(value) else str(value).strip().upper()
        if code and not CURRENCY_CODE.match(code):
            raise ValueError(f"{value!r} is not a three-letter ISO 4217 code such as GBP.")
        return code


class SkuWidget(widgets.CharWidget):
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        return "" if _is_empty(value) else str(value).strip()


class ProductResource(resources.ModelResource):
    """Products keyed by sku, in the ``import_products`` column order."""

    sku = fields.Field(attribute="sku", column_name="sku", widget=SkuWidget())
    category = fields.Field(attribute="category", column_name="category", widget=CategoryWidget())
    price = fields.Field(attribute="price", column_name="price", widget=StrictDecimalWidget())
    currency = fields.Field(
        attribute="currency", column_name="currency", widget=CurrencyWidget(), default="GBP"
    )
    stock = fields.Field(attribute="stock", column_name="stock", widget=StrictIntegerWidget())
    is_active = fields.Field(
        attribute="is_active", column_name="is_active", widget=StrictBooleanWidget(), default=True
    )
    points_price = fields.Field(
        attribute="points_price", column_name="points_price", widget=StrictIntegerWidget()
    )
    attributes = fields.Field(
        attribute="attributes", column_name="attributes", widget=AttributesWidget()
    )
    tags = fields.Field(attribute="tags", column_name="tags", widget=TagsWidget(), default=list)

    class Meta:
        model = Product
        fields = COLUMNS
        import_order = COLUMNS
        export_order = COLUMNS
        import_id_fields = ("sku",)
        instance_loader_class = CachedInstanceLoader
        # full_clean() per row: the model's validators (no negative price or stock…) become
        # per-row, per-field errors in the preview instead of a database error at the end.
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        self._rows_by_sku: dict[str, int] = {}
        # The stored availability of the file's existing products, read once: after the import
        # the changes are recorded like the API's (a dry run's roll back with its transaction).
        skus = {SkuWidget().clean(v) for v in dataset["sku"]} if "sku" in dataset.headers else ()
        self._availability_before = current_states(skus=skus)

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        super().after_import(dataset, result, **kwargs)
        record_since(before=self._availability_before, at=timezone.now())

    def export_field(self, field: fields.Field, instance: Product, **kwargs: Any) -> Any:
        value = super().export_field(field, instance, **kwargs)
        return escape_formula(value) if isinstance(value, str) else value

    def before_import_row(self, row: Any, **kwargs: Any) -> None:
        for column, value in row.items():
            if isinstance(value, str):
                row[column] = unescape_formula(value)
        # Two rows for one sku would make the second silently overwrite the first.
        sku = SkuWidget().clean(row.get("sku"))
        if not sku:
            raise ValidationError({"sku": "Every row needs a sku."})
        row_number = kwargs.get("row_number")
        first = self._rows_by_sku.setdefault(sku, row_number)
        if first != row_number:
            raise ValidationError({"sku": f"{sku!r} already appears in row {first}."})
