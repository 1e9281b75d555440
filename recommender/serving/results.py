"""What serving returns: plain dataclasses the API renders and the dashboard reads.

Not ``slots=True``: cached responses are unpickled on every cache hit, and a frozen slots
dataclass unpickles through ``dataclasses.fields()`` per object (measured ~1.8 ms per response
of ten items), a plain one by restoring its ``__dict__``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from catalog.models import Product
from config.recommendation_ids import new_recommendation_id
from recommender.serving import reasons
from recommender.serving.reasons import Reason

if TYPE_CHECKING:  # both import this module
    from recommender.serving.catalog_state import CatalogSnapshot
    from recommender.serving.slots import Pick


@dataclass(frozen=True)
class ProductCard:
    id: int
    sku: str
    title: str
    price: str  # decimal as text, exact
    currency: str
    category: str | None
    category_slug: str | None
    brand: str
    stock: int | None
    in_stock: bool
    points_price: int | None
    is_active: bool = True
    image_url: str = ""  # "" = none: the dashboard shows a placeholder
    tags: tuple[str, ...] = ()  # lower case (catalog.models.normalise_tags); rules match them

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "title": self.title,
            "price": self.price,
            "currency": self.currency,
            "category": self.category,
            "category_slug": self.category_slug,
            "brand": self.brand,
            "stock": self.stock,
            "in_stock": self.in_stock,
            "points_price": self.points_price,
            "image_url": self.image_url,
        }


@dataclass(frozen=True)
class Recommendation:
    product: ProductCard
    score: float
    reason: Reason
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "product": self.product.as_dict(),
            "score": round(self.score, 6),
            "reason": self.reason.as_dict(),
            "source": self.source,
        }


@dataclass(frozen=True)
class Recommendations:
    """One response: the slot's items best first, and what produced them."""

    slot: str
    items: list[Recommendation]
    shopper: dict[str, Any] | None = None
    product: str | None = None  # the sku, for similar / bought-together
    model_version: dict[str, Any] | None = None
    generated_at: datetime | None = None
    cached: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Set when the list is empty by design ("buy again" for a shopper who never bought).
    empty_reason: Reason | None = None
    # Stamped per served response (``served``), never cached: a cached list served twice is two
    # impressions, and each must be attributable on its own.
    recommendation_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "slot": self.slot,
            "recommendation_id": self.recommendation_id,
            "count": len(self.items),
            # 1-based, as the shop sends it back on the event the shopper's click produces.
            "results": [
                {**item.as_dict(), "position": n} for n, item in enumerate(self.items, start=1)
            ],
            "model_version": self.model_version,
            "sources": sorted({item.source for item in self.items}),
            "generated_at": self.generated_at.isoformat() if self.generated_at else None,
            "cached": self.cached,
        }
        if self.shopper is not None:
            # Shopper slots always carry it (null when the list is not empty by design).
            reason = self.empty_reason
            body["empty_reason"] = reason.as_dict() if reason is not None else None
        if self.shopper is not None:
            body["shopper"] = self.shopper
        if self.product is not None:
            body["product"] = self.product
        return body

    def from_cache(self) -> Recommendations:
        return replace(self, cached=True)

    def served(self) -> Recommendations:
        """This response with a fresh ``recommendation_id``: the instance a shopper is shown."""
        return replace(self, recommendation_id=new_recommendation_id())


CARDS_KEPT = 20_000  # ~10 MB of cards per memo at most; beyond, the memo starts over


def product_cards(
    pks: Iterable[int], *, memo: dict[int, ProductCard | None] | None = None
) -> dict[int, ProductCard]:
    """Cards for these products, read right now, or through ``memo`` when given.

    Serving passes its catalog snapshot's memo: the cards are then exactly as fresh as the
    snapshot that chose the products, since every price, stock or activity change makes a new
    snapshot (services bump the catalog version, the fingerprint catches the admin), and only
    cards not seen under this snapshot are read (one query, most requests none).
    """
    pks = list(pks)
    if memo is None:
        return _read_cards(pks)
    if len(memo) > CARDS_KEPT:
        memo.clear()
    missing = [pk for pk in pks if pk not in memo]
    if missing:
        found = _read_cards(missing)
        memo.update({pk: found.get(pk) for pk in missing})
    return {pk: card for pk in pks if (card := memo.get(pk)) is not None}


def _read_cards(pks: list[int]) -> dict[int, ProductCard]:
    """Cards for these products in one query (prices and stock as they are right now)."""
    if not pks:
        return {}
    rows = Product.objects.filter(pk__in=pks).values_list(
        "id",
        "sku",
        "title",
        "price",
        "currency",
        "category__name",
        "category__slug",
        "brand",
        "stock",
        "points_price",
        "is_active",
        "image_url",
        "tags",
    )
    return {
        row[0]: ProductCard(
            id=row[0],
            sku=row[1],
            title=row[2],
            price=f"{row[3]:.2f}",
            currency=row[4],
            category=row[5],
            category_slug=row[6],
            brand=row[7],
            stock=row[8],
            in_stock=row[8] is None or row[8] > 0,
            points_price=row[9],
            is_active=row[10],
            image_url=row[11],
            tags=tuple(row[12] or ()),
        )
        for row in rows
    }


def render(picks: list[Pick], *, catalog: CatalogSnapshot) -> list[Recommendation]:
    """Product cards for the picks, reasons that name the shopper's products.

    Cards come from the snapshot's memo (read once per snapshot), so they agree with the
    eligibility the snapshot decided; a card found inactive or sold out since is still dropped
    (``CatalogSnapshot.on_sale``).
    """
    pks = [int(catalog.pks[p.row]) for p in picks]
    pks += [int(catalog.pks[p.because_row]) for p in picks if p.because_row >= 0]
    cards = product_cards(pks, memo=catalog.card_memo)
    items = []
    for pick in picks:
        card = cards.get(int(catalog.pks[pick.row]))
        if card is None or not catalog.on_sale(card):
            continue
        reason = pick.reason
        if reason is None:
            because = cards.get(int(catalog.pks[pick.because_row]))
            reason = (
                reasons.because(kind=pick.because_kind, title=because.title)
                if because is not None
                else reasons.personal()
            )
        items.append(
            Recommendation(product=card, score=pick.score, reason=reason, source=pick.source)
        )
    return items
