"""Catalog writes: the category tree and the product upsert shared by imports and the API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify

from catalog.availability import AvailabilityChange, record_changes, state_of, stocked
from catalog.models import (
    Category,
    Product,
    Promotion,
    image_url_error,
    normalise_tags,
    tags_error,
)
from catalog.versioning import bump_catalog_version
from config.storable import UNSTORABLE_TEXT, unstorable

CATEGORY_SEPARATOR = "/"
TRUE_WORDS = {"1", "true", "t", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "off"}
MAX_PRICE = Decimal("9999999999.99")  # max_digits=12, decimal_places=2
# The wording ingest_events uses for the same rule, so both imports read alike.
# Columns a product row may carry; absent keys leave an existing product's value unchanged.
PRODUCT_FIELDS = (
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


class CategoryPathError(ValueError):
    """A category value that names no category that could be stored (e.g. "/")."""


@dataclass
class UpsertResult:
    """What ``upsert_products`` did with each input row, by position."""

    statuses: list[str]  # 'created' / 'updated' / 'unchanged' / 'invalid'
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.statuses.count(status)

    @property
    def created(self) -> int:
        return self.count("created")

    @property
    def updated(self) -> int:
        return self.count("updated")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    @property
    def invalid(self) -> int:
        return self.count("invalid")


def ensure_category_path(*, names: Sequence[str]) -> Category:
    """The category at ``names`` (root first), creating any missing node along the way.

    A node is found by name (case-insensitive) under its parent; a new node's slug is the
    slugified path ("home-kitchen-mugs"), so equal names under different parents never collide.
    Raises ``CategoryPathError`` for a path no category could have, before creating anything.
    """
    _check_category_names(names)
    parent: Category | None = None
    for depth, name in enumerate(names):
        node = Category.objects.filter(parent=parent, name__iexact=name).first()
        if node is None:
            slug = _unique_slug(slugify("-".join(names[: depth + 1]))[:140] or "category")
            node = Category.objects.create(name=name, slug=slug, parent=parent)
        parent = node
    assert parent is not None
    return parent


def _check_category_names(names: Sequence[str]) -> None:
    # Checked before anything is created, so a bad path never leaves its first levels behind.
    if not names:
        raise CategoryPathError(
            "A category path needs at least one name, e.g. Home/Kitchen, or a slug."
        )
    if any(not name.strip() for name in names):
        raise CategoryPathError("A category name cannot be blank.")
    # Refused rather than cut: a cut name never matches its own cell again, so every re-run of
    # the same file created another category (slug ...-2, -3) and moved the product to it.
    limit = Category._meta.get_field("name").max_length
    longest = max(names, key=len)
    if len(longest) > limit:
        raise CategoryPathError(
            f"A category name has at most {limit} characters; {longest[:20]!r}... has "
            f"{len(longest)}."
        )


def _unique_slug(base: str) -> str:
    slug, n = base, 1
    while Category.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base[:134]}-{n}"
    return slug


def resolve_category(*, value: str) -> Category:
    """A category from an import cell: a path "Home/Kitchen/Mugs" or a slug, created if missing."""
    value = value.strip()
    if CATEGORY_SEPARATOR in value:
        names = [part.strip() for part in value.split(CATEGORY_SEPARATOR) if part.strip()]
        return ensure_category_path(names=names)
    found = Category.objects.filter(slug=value).first()
    if found is not None:
        return found
    return ensure_category_path(names=[value.replace("-", " ").title()])


@transaction.atomic
def upsert_products(*, rows: Sequence[Mapping[str, Any]], dry_run: bool = False) -> UpsertResult:
    """Create or update products by sku; invalid rows are reported and never written.

    Rows are validated first and the valid ones written in one transaction, so a failure
    leaves nothing half-written. Unchanged products are not touched (``updated_at`` keeps).
    """
    statuses = ["invalid"] * len(rows)
    errors: dict[int, dict[str, list[str]]] = {}
    cleaned: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, row in enumerate(rows):
        values, row_errors = _clean_product(row)
        sku = values.get("sku")
        if not row_errors and sku in cleaned:
            row_errors = {"sku": [f"Repeats the sku of row {cleaned[sku][0]} in this batch."]}
        if row_errors:
            errors[index] = row_errors
        else:
            cleaned[sku] = (index, values)

    existing = {p.sku: p for p in Product.objects.filter(sku__in=list(cleaned))}
    categories: dict[str, Category] = {}
    to_create: list[Product] = []
    to_update: list[Product] = []
    changed_fields: set[str] = set()
    availability: list[AvailabilityChange] = []
    now = timezone.now()
    for sku, (index, values) in cleaned.items():
        if "category" in values:
            # Compare and write the id: reading product.category would cost a query per row.
            label = values.pop("category")
            if label and label not in categories:
                try:
                    categories[label] = resolve_category(value=label)
                except CategoryPathError as exc:
                    # Only the service can tell (a slug may exist), so the row fails here.
                    errors[index] = {"category": [str(exc)]}
                    continue
            values["category_id"] = categories[label].pk if label else None
        product = existing.get(sku)
        if product is None:
            to_create.append(Product(**values))
            statuses[index] = "created"
            continue
        diff = {k for k, v in values.items() if getattr(product, k) != v}
        was = state_of(product)
        for name in diff:
            setattr(product, name, values[name])
        availability.append(AvailabilityChange(product.pk, now, now=state_of(product), was=was))
        statuses[index] = "updated" if diff else "unchanged"
        if diff:
            product.updated_at = now  # bulk_update skips auto_now
            to_update.append(product)
            changed_fields |= diff
    if dry_run:
        transaction.set_rollback(True)
        return UpsertResult(statuses=statuses, errors=errors)
    Product.objects.bulk_create(to_create, batch_size=2000)
    if to_update:
        names = {name.removesuffix("_id") for name in changed_fields}
        Product.objects.bulk_update(to_update, [*sorted(names), "updated_at"], batch_size=2000)
        record_changes(changes=availability)  # only those whose availability moved
    if to_create or to_update:
        bump_catalog_version()
    return UpsertResult(statuses=statuses, errors=errors)


def _clean_product(row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Typed values for the keys present in ``row`` and per-field error messages."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    # PostgreSQL answers NUL or a lone surrogate (in text or jsonb) with a DataError that aborts
    # the whole batch; such a value fails only its own field and is checked no further.
    refused = [name for name, raw in row.items() if unstorable(raw)]
    for name in refused:
        fail(name, UNSTORABLE_TEXT)
    row = {name: raw for name, raw in row.items() if name not in refused}
    sku = _text(row.get("sku"))
    if not sku and "sku" not in errors:
        fail("sku", "This field is required.")
    elif len(sku) > 64:
        fail("sku", "At most 64 characters.")
    values["sku"] = sku
    for name, limit in (("title", 255), ("brand", 120), ("description", None)):
        if name in row:
            text = _text(row[name])
            if limit and len(text) > limit:
                fail(name, f"At most {limit} characters.")
            values[name] = text
    if "title" in values and not values["title"]:
        fail("title", "This field is required.")
    if "category" in row:
        values["category"] = _text(row["category"]) or None
    if "price" in row:
        _clean_price(row["price"], values, fail)
    if "currency" in row:
        # Checked before upper(): "ßa".upper() is "SSA"; and other scripts' letters are alpha.
        given = _text(row["currency"])
        currency = given.upper() or "GBP"
        if given and (len(given) != 3 or not (given.isascii() and given.isalpha())):
            fail("currency", "A three-letter ISO 4217 code, e.g. GBP.")
        values["currency"] = currency
    for name, minimum in (("stock", 0), ("points_price", 1)):
        if name in row:
            _clean_optional_int(name, row[name], minimum, values, fail)
    if "is_active" in row:
        _clean_bool(row["is_active"], values, fail)
    if "attributes" in row:
        _clean_attributes(row["attributes"], values, fail)
    if "image_url" in row:
        values["image_url"] = _text(row["image_url"])
        if error := image_url_error(values["image_url"]):
            fail("image_url", error)
    if "tags" in row:
        _clean_tags(row["tags"], values, fail)
    return values, errors


def _clean_tags(raw: Any, values: dict[str, Any], fail) -> None:
    """A list of strings, or one comma-separated cell (CSV): "summer, gift idea"."""
    if raw is None:
        raw = []
    elif isinstance(raw, str):
        raw = [tag for tag in raw.split(",") if tag.strip()]
    if error := tags_error(raw):
        fail("tags", error)
    else:
        values["tags"] = normalise_tags(raw)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _clean_price(raw: Any, values: dict[str, Any], fail) -> None:
    if isinstance(raw, bool) or raw is None or _text(raw) == "":
        fail("price", "This field is required.")
        return
    try:
        price = Decimal(_text(raw))
    except InvalidOperation:
        fail("price", f"Not a number: {raw!r}.")
        return
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        fail("price", f"Must be between 0 and {MAX_PRICE}.")
    elif price != price.quantize(Decimal("0.01")):
        fail("price", "At most two decimal places.")
    else:
        values["price"] = price.quantize(Decimal("0.01"))


def _clean_optional_int(name: str, raw: Any, minimum: int, values: dict[str, Any], fail) -> None:
    if raw is None or _text(raw) == "":
        values[name] = None
        return
    try:
        number = int(_text(raw)) if not isinstance(raw, bool) else None
    except ValueError:
        number = None
    if number is None:
        fail(name, f"Not a whole number: {raw!r}.")
    elif number < minimum:
        fail(name, f"Must be at least {minimum} (leave empty for none).")
    elif number > 2_147_483_647:
        fail(name, "Too large.")
    else:
        values[name] = number


def _clean_bool(raw: Any, values: dict[str, Any], fail) -> None:
    if isinstance(raw, bool):
        values["is_active"] = raw
        return
    word = _text(raw).lower()
    if word == "":
        values["is_active"] = True
    elif word in TRUE_WORDS or word in FALSE_WORDS:
        values["is_active"] = word in TRUE_WORDS
    else:
        fail("is_active", f"Expected true or false, got {raw!r}.")


def _refuse_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; PostgreSQL's jsonb refuses them (a 500 on save).
    raise ValueError(f"{name} is not a JSON value.")


def _clean_attributes(raw: Any, values: dict[str, Any], fail) -> None:
    if isinstance(raw, str):
        if not raw.strip():
            values["attributes"] = {}
            return
        try:
            raw = json.loads(raw, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            fail("attributes", f"Not valid JSON: {exc.msg} at character {exc.pos}.")
            return
        except ValueError as exc:
            fail("attributes", f"Not valid JSON: {exc}")
            return
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        fail("attributes", 'Must be a JSON object, e.g. {"colour": "red"}.')
    elif unstorable(raw):  # a CSV cell spells NUL as the JSON escape \u0000
        fail("attributes", UNSTORABLE_TEXT)
    else:
        values["attributes"] = raw


def categories_for_paths(*, paths: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], Category]:
    """Each distinct path's category, creating missing nodes (one lookup per distinct path)."""
    return {path: ensure_category_path(names=path) for path in set(paths)}


def set_products_active(*, products: QuerySet[Product], active: bool) -> int:
    """Switch products on or off; returns how many changed. Serving sees it in its next response."""
    now = timezone.now()
    stocks = dict(products.exclude(is_active=active).values_list("pk", "stock"))
    # update() skips auto_now, so updated_at is set explicitly: exports and syncs rely on it.
    changed = Product.objects.filter(pk__in=list(stocks), is_active=not active).update(
        is_active=active, updated_at=now
    )
    record_changes(
        changes=(
            AvailabilityChange(pk, now, now=(active, stocked(s)), was=(not active, stocked(s)))
            for pk, s in stocks.items()
        )
    )
    if changed:
        bump_catalog_version()
    return changed


def set_promotions_active(*, promotions: QuerySet[Promotion], active: bool) -> int:
    """Pause or resume promotions; returns how many changed."""
    changed = promotions.exclude(is_active=active).update(
        is_active=active, updated_at=timezone.now()
    )
    if changed:
        bump_catalog_version()
    return changed


def end_promotions(*, promotions: QuerySet[Promotion], now: datetime) -> int:
    """End running promotions at ``now``; returns how many ended.

    Only strictly started ones: ending a promotion that starts this very instant would give it an
    empty window, which the promotion_ends_after_start constraint rejects.
    """
    ended = promotions.filter(starts_at__lt=now, ends_at__gt=now).update(
        ends_at=now, updated_at=now
    )
    if ended:
        bump_catalog_version()
    return ended
