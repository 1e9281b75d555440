"""The rows a synthetic shop plan is made of: products, shoppers and the events' columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from demo.verticals import PlantedTruth

GENERAL = "general"  # the default shop: every department, no planted structure


@dataclass(frozen=True)
class ProductRow:
    sku: str
    title: str
    description: str
    department: str
    subcategory: str
    brand: str
    price: float
    stock: int | None
    is_active: bool
    points_price: int | None
    attributes: dict
    launched_days_ago: int


@dataclass(frozen=True)
class ShopperRow:
    external_id: str
    country: str
    segment: str
    points_balance: int
    interests: tuple[str, ...]  # subcategory or department names


@dataclass
class EventColumns:
    """One list per Event field, index-aligned (``product`` is -1 for searches)."""

    shopper: list[int] = field(default_factory=list)
    product: list[int] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    query: list[str] = field(default_factory=list)
    session_id: list[str] = field(default_factory=list)
    order_id: list[str] = field(default_factory=list)
    occurred_at: list = field(default_factory=list)  # seconds while planning, then datetimes

    def add(self, shopper, product, kind, at, *, value=1.0, query="", session="", order=""):
        self.shopper.append(shopper)
        self.product.append(product)
        self.kind.append(kind)
        self.value.append(value)
        self.query.append(query)
        self.session_id.append(session)
        self.order_id.append(order)
        self.occurred_at.append(at)

    def __len__(self) -> int:
        return len(self.kind)


@dataclass
class ShopPlan:
    products: list[ProductRow]
    shoppers: list[ShopperRow]
    events: EventColumns
    vertical: str = GENERAL
    # What a vertical planted (taste groups, bundles, staples), for tests to check recovery.
    truth: PlantedTruth | None = None
