"""Reads of products, categories and promotions (the dashboard's pages read the catalog here)."""

from __future__ import annotations

import re
from collections.abc import Container
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from catalog.models import AVAILABLE, Category, Product, Promotion

WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about what a product is ("set of 3", "pack of 12").
STOP_WORDS = frozenset({"of", "and", "the", "a", "in", "with", "for", "set", "pack", "s"})
CONTENT_CANDIDATES = 5000  # products of the same category compared by title, at most


def product_search(*, q: str = "", category: Category | None = None) -> QuerySet[Product]:
    """Products whose sku starts with ``q`` or whose title contains it, optionally in a category."""
    products = Product.objects.select_related("category")
    if q:
        products = products.filter(Q(sku__istartswith=q) | Q(title__icontains=q))
    if category is not None:
        products = products.filter(category=category)
    return products.order_by("sku")


def product_by_sku(*, sku: str) -> Product | None:
    return Product.objects.select_related("category", "category__parent").filter(sku=sku).first()


def product_exists(*, sku: str) -> bool:
    return Product.objects.filter(sku=sku).exists()


def categories_by_name() -> QuerySet[Category]:
    """Every category, by name (a lazy queryset: forms take it as their choices)."""
    return Category.objects.order_by("name")


def product_counts() -> dict[str, int]:
    """How many products there are, and how many of them can be recommended now."""
    return Product.objects.aggregate(products=Count("id"), available=Count("id", filter=AVAILABLE))


def unavailable_skus(*, among: Container[int], limit: int) -> list[str]:
    """SKUs, sorted, of the inactive or sold-out products whose pk is in ``among``."""
    # Unavailable products are few: read them all (one small query) and intersect in Python,
    # rather than sending every recommended pk to the database (150 ms for 3,600 of them).
    rows = Product.objects.filter(Q(is_active=False) | Q(stock__lte=0))
    return sorted(sku for pk, sku in rows.values_list("pk", "sku") if pk in among)[:limit]


def content_neighbours(*, products: list[Product], k: int) -> dict[int, list[Product]]:
    """Product pk → up to ``k`` available products of its category with the most similar title.

    Similarity is the Jaccard overlap of title words; ties go to the newest product. One query
    for all ``products`` together.
    """
    categories = {p.category_id for p in products if p.category_id is not None}
    candidates = list(
        Product.objects.available()
        .filter(category_id__in=categories)
        .order_by("-created_at", "-id")
        .only("id", "sku", "title", "price", "currency", "category_id", "stock", "image_url")[
            :CONTENT_CANDIDATES
        ]
    )
    words = {c.pk: _words(c.title) for c in candidates}
    found: dict[int, list[Product]] = {}
    for product in products:
        mine = _words(product.title)
        scored = [
            (len(mine & words[c.pk]) / (len(mine | words[c.pk]) or 1), -i, c)
            for i, c in enumerate(candidates)
            if c.category_id == product.category_id and c.pk != product.pk
        ]
        scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
        found[product.pk] = [c for _score, _i, c in scored[:k]]
    return found


def _words(title: str) -> set[str]:
    return set(WORD.findall(title.lower())) - STOP_WORDS


def newest_products(*, limit: int) -> list[Product]:
    return list(
        Product.objects.available()
        .select_related("category")
        .order_by("-created_at", "-id")[:limit]
    )


def promotions_overview(*, now: datetime) -> dict[str, list[Promotion]]:
    """Active and upcoming promotions with how many products and categories each names."""
    promotions = Promotion.objects.annotate(
        n_products=Count("products", distinct=True),
        n_categories=Count("categories", distinct=True),
    ).prefetch_related("categories")
    return {
        "active": list(promotions.active(at=now).order_by("-priority", "ends_at")),
        "upcoming": list(promotions.upcoming(at=now).order_by("starts_at")),
    }


def points_catalogue() -> QuerySet[Product]:
    """Products redeemable with points, cheapest first."""
    return (
        Product.objects.filter(points_price__isnull=False, is_active=True)
        .select_related("category")
        .order_by("points_price", "sku")
    )


def top_categories() -> list[Category]:
    return list(Category.objects.order_by("name"))
