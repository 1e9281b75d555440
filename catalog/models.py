"""What the shop sells: a category tree, products and promotions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class CategoryTree:
    """The category tree in memory, from {id: parent id}: what lies below what."""

    def __init__(self, parents: Mapping[int, int | None]) -> None:
        self.children: dict[int, list[int]] = {}
        for child, parent in parents.items():
            if parent is not None:
                self.children.setdefault(parent, []).append(child)

    @classmethod
    def load(cls) -> CategoryTree:
        """The whole tree in one query, however deep it is."""
        return cls(dict(Category.objects.order_by().values_list("pk", "parent_id")))

    def with_descendants(self, category_ids: Iterable[int]) -> set[int]:
        """The given categories and every category below them (a corrupt cycle stops)."""
        found: set[int] = set()
        stack = list(category_ids)
        while stack:
            node = stack.pop()
            if node not in found:
                found.add(node)
                stack.extend(self.children.get(node, ()))
        return found


class Category(models.Model):
    """A node of the category tree (e.g. Home › Kitchen › Mugs)."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(
        max_length=140, unique=True, help_text="Stable identifier used in URLs and imports."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="Leave empty for a top-level category.",
    )

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="category_not_its_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        node, seen = self.parent, set()
        while node is not None:
            if node.pk == self.pk or node.pk in seen:
                raise ValidationError({"parent": "A category cannot sit below itself."})
            seen.add(node.pk)
            node = node.parent

    def ancestors(self) -> list[Category]:
        """From the root down to this category's parent."""
        chain: list[Category] = []
        node = self.parent
        while node is not None and len(chain) < 32:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


# Active and sellable: stock not tracked (null) or above zero.
AVAILABLE = Q(is_active=True) & (Q(stock__isnull=True) | Q(stock__gt=0))


class ProductQuerySet(models.QuerySet):
    def available(self) -> ProductQuerySet:
        """Active and sellable: stock not tracked (null) or above zero."""
        return self.filter(AVAILABLE)

    def redeemable(self, *, points: int) -> ProductQuerySet:
        """Products a shopper with ``points`` can take with loyalty points."""
        return self.filter(points_price__isnull=False, points_price__lte=points)


IMAGE_URL_RULE = "An http(s) address or a path on this site starting with /, e.g. /static/a.svg."
# A site path ("/static/a.svg", never "//host"), an http(s) address with a host (lower-case
# scheme), or empty; no spaces.
# One expression, so the API schema states exactly what is accepted (config/schema.py).
IMAGE_URL_PATTERN = r"^(?:/(?!/)\S*|https?://[^\s/?#]+(?:[/?#]\S*)?)?$"
IMAGE_URL_MAX_LENGTH = 500
_image_url = re.compile(IMAGE_URL_PATTERN)


def image_url_error(value: str) -> str | None:
    """Why ``value`` cannot be a product image address, or None when it can ("" included).

    Only http(s) and site paths: a javascript: or data: address in an <img> is an attack
    surface, and the dashboard must not fetch from anywhere else.
    """
    if not value:
        return None
    if len(value) > IMAGE_URL_MAX_LENGTH or not _image_url.match(value):
        return IMAGE_URL_RULE
    return None


def validate_image_url(value: str) -> None:
    error = image_url_error(value)
    if error:
        raise ValidationError(error)


MAX_TAGS = 20
TAG_MAX_LENGTH = 40
# 1 to 40 characters, not only spaces, no comma: one expression, so the API schema states it.
TAG_PATTERN = r"^(?=[^,]*[^,\s])[^,]{1,40}$"
_tag = re.compile(TAG_PATTERN)
TAGS_RULE = (
    f"At most {MAX_TAGS} tags of 1 to {TAG_MAX_LENGTH} characters each, without commas, "
    'e.g. ["summer", "gift idea"].'
)


def normalise_tags(value: object) -> object:
    """Tags as stored: stripped, lower case, each once, in the order given (anything that is
    not a list of strings is returned as it is, for ``tags_error`` to name)."""
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        return value
    return list(dict.fromkeys(tag.strip().casefold() for tag in value))


def tags_error(value: object) -> str | None:
    """Why ``value`` cannot be a product's tags, or None when it can.

    Short strings without commas: a CSV cell lists them comma-separated, and rules match one.
    """
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        return TAGS_RULE
    for tag in value:
        if not isinstance(tag, str) or not _tag.match(tag):
            return TAGS_RULE
    return None


def validate_tags(value: object) -> None:
    error = tags_error(value)
    if error:
        raise ValidationError(error)


class Product(models.Model):
    sku = models.CharField(
        "SKU", max_length=64, unique=True, help_text="The shop's own product code."
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="products"
    )
    brand = models.CharField(max_length=120, blank=True, db_index=True)
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(
        max_length=3, default="GBP", help_text="ISO 4217 code, e.g. GBP or EUR."
    )
    stock = models.IntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=(
            "Units in stock. Leave empty if stock is not tracked "
            "(the product then counts as available)."
        ),
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive products are never recommended."
    )
    points_price = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Loyalty points needed to redeem it. Empty: not redeemable with points.",
    )
    attributes = models.JSONField(
        default=dict, blank=True, help_text="Free-form attributes (colour, size…)."
    )
    image_url = models.CharField(
        "image URL",
        max_length=500,
        blank=True,
        validators=[validate_image_url],
        help_text="A picture of the product: an http(s) address or a path on this site "
        "(/static/…). Empty: the dashboard shows a placeholder.",
    )
    tags = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_tags],
        help_text='Short labels merchandising rules can match, e.g. ["summer", "gift idea"] '
        "(stored in lower case).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["sku"]
        indexes = [
            models.Index(fields=["category", "is_active"], name="product_category_active"),
            # The serving catalog check reads max(updated_at) every second per web process.
            models.Index(fields=["updated_at"], name="product_updated_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="product_stock_not_negative"
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(points_price__isnull=True) | Q(points_price__gte=1),
                name="product_points_price_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.sku})"

    @property
    def in_stock(self) -> bool:
        return self.stock is None or self.stock > 0

    def clean(self) -> None:
        self.tags = normalise_tags(self.tags)


class ProductAvailabilityChange(models.Model):
    """A moment a product's availability changed: what it became and what it was before.

    Written by every catalog write path that can switch a product on or off or sell it out
    (``catalog.availability``), so the catalogue as it stood at any past time can be rebuilt:
    a replay at T serves the products that were on sale at T, not today's. The state before
    is kept too: the first change after T alone says how a product stood at T, with no need to
    read its earlier history, and a product changed only after T stood as ``was_*`` says.
    """

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="availability_changes"
    )
    changed_at = models.DateTimeField()
    is_active = models.BooleanField()
    in_stock = models.BooleanField()
    was_active = models.BooleanField()
    was_in_stock = models.BooleanField()

    class Meta:
        indexes = [
            # The as-of read: the first change after T of each product.
            models.Index(fields=["changed_at", "product"], name="availability_change_time"),
        ]

    def __str__(self) -> str:
        return f"product {self.product_id} at {self.changed_at:%Y-%m-%d %H:%M}"


class PromotionQuerySet(models.QuerySet):
    def active(self, *, at: datetime) -> PromotionQuerySet:
        """Promotions switched on whose window contains ``at`` (start inclusive, end exclusive)."""
        return self.filter(is_active=True, starts_at__lte=at, ends_at__gt=at)

    def upcoming(self, *, at: datetime) -> PromotionQuerySet:
        return self.filter(is_active=True, starts_at__gt=at)

    def expired(self, *, at: datetime) -> PromotionQuerySet:
        return self.filter(ends_at__lte=at)

    # A promotion covers the products it names and every product in a category it names or
    # below it (a promotion on Kitchen covers Mugs): the API, the admin and serving read this.
    def covering(self) -> Q:
        """A filter on products: those any of these promotions covers."""
        categories = set().union(*self.covered_categories().values())
        return Q(promotions__in=self.values("pk")) | Q(category_id__in=categories)

    def named_products(self) -> dict[int, list[int]]:
        """Promotion id → the products it names itself (one query for all)."""
        named: dict[int, list[int]] = {}
        pairs = Promotion.products.through.objects.filter(promotion__in=self)
        for promotion_id, product_id in pairs.values_list("promotion_id", "product_id"):
            named.setdefault(promotion_id, []).append(product_id)
        return named

    def covered_categories(self, *, tree: CategoryTree | None = None) -> dict[int, set[int]]:
        """Promotion id → the categories it covers: those it names and all below them.

        One query for all, plus one for the tree unless ``tree`` is given.
        """
        named: dict[int, set[int]] = {}
        pairs = Promotion.categories.through.objects.filter(promotion__in=self)
        for promotion_id, category_id in pairs.values_list("promotion_id", "category_id"):
            named.setdefault(promotion_id, set()).add(category_id)
        if not named:
            return {}
        tree = CategoryTree.load() if tree is None else tree
        return {pk: tree.with_descendants(ids) for pk, ids in named.items()}


class Promotion(models.Model):
    name = models.CharField(max_length=160)
    discount_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text="Percentage off the price, shown to shoppers in the recommendation reason.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="The promotion stops at this moment.")
    priority = models.IntegerField(
        default=0, help_text="Higher wins when a product is in several active promotions."
    )
    is_active = models.BooleanField(default=True, help_text="Switch off to pause without deleting.")
    products = models.ManyToManyField(Product, blank=True, related_name="promotions")
    categories = models.ManyToManyField(
        Category,
        blank=True,
        related_name="promotions",
        help_text="Every product in these categories (and their sub-categories) is included.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromotionQuerySet.as_manager()

    class Meta:
        ordering = ["-priority", "starts_at"]
        indexes = [
            models.Index(fields=["is_active", "starts_at", "ends_at"], name="promotion_window")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="promotion_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__gt=0) & Q(discount_percent__lte=100),
                name="promotion_discount_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (-{self.discount_percent.normalize():f}%)"

    def covered_products(self) -> ProductQuerySet:
        """Every product this promotion covers (``PromotionQuerySet.covering``)."""
        covering = Promotion.objects.filter(pk=self.pk).covering()
        return Product.objects.filter(pk__in=Product.objects.filter(covering).values("pk"))

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "A promotion must end after it starts."})
