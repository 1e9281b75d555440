"""Every kind of event a shop sends, in one table: a new kind is one row here plus a migration.

The model's choices and constraints, ingestion's checks, the default interest weights (settings
only override them), the "because you …" verbs, the real-time rank and the dashboard's
"simulate an event" form all read this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Kind:
    name: str  # stored in Event.kind and sent by shops, e.g. "add_to_cart"
    label: str  # for merchandisers, in the past tense: "Added to cart"
    weight: float  # default interest weight; SHELFWISE_WEIGHT_<NAME> overrides it
    verb: str  # completes "because you … <product>"
    # Which kind explains a product the shopper touched several ways: the highest rank wins.
    rank: int
    names_product: bool = True  # False for a search: it names a query, a product is optional
    value_range: tuple[float, float] | None = None  # beyond "0 or more", e.g. a rating's 1–5
    simulate_as: str = ""  # the choice in the dashboard's "simulate an event" form; "" = absent
    # May carry the recommendation id (and position) the shopper followed: the kinds attribution
    # counts (a click, a cart, a purchase). A search or rating names no recommended product.
    attributable: bool = False

    def value_problem(self, value: float) -> str | None:
        """Why ``value`` does not suit this kind (beyond "0 or more"), or None if it does."""
        if self.value_range is None:
            return None
        low, high = self.value_range
        if low <= value <= high:
            return None
        return f"A {self.name} must be between {low:g} and {high:g}."


# Name → kind, in the order the choices, charts and weights list them.
EVENT_KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            "view",
            "Viewed",
            weight=1.0,
            verb="viewed",
            rank=1,
            simulate_as="View",
            attributable=True,
        ),
        Kind("search", "Searched", weight=0.5, verb="searched for", rank=0, names_product=False),
        Kind(
            "add_to_cart",
            "Added to cart",
            weight=4.0,
            verb="added to your cart",
            rank=3,
            simulate_as="Add to cart",
            attributable=True,
        ),
        Kind(
            "purchase",
            "Purchased",
            weight=8.0,
            verb="bought",
            rank=4,
            simulate_as="Purchase",
            attributable=True,
        ),
        Kind("rating", "Rated", weight=2.0, verb="rated", rank=2, value_range=(1, 5)),
    )
}


def event_weights(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every kind's interest weight: the table's default unless ``overrides`` names the kind.

    ``overrides`` defaults to ``settings.SHELFWISE_EVENT_WEIGHTS`` (read from the
    SHELFWISE_WEIGHT_<KIND> variables); names that are no kind are ignored, as before.
    """
    if overrides is None:
        overrides = settings.SHELFWISE_EVENT_WEIGHTS
    return {name: overrides.get(name, kind.weight) for name, kind in EVENT_KINDS.items()}


def productless_kinds() -> list[str]:
    """Kinds that may come without a product (a search names its query instead)."""
    return [name for name, kind in EVENT_KINDS.items() if not kind.names_product]


def product_required() -> str:
    """The error for an event without a product, naming the kinds that may leave it out."""
    exempt = " or ".join(f"a {name}" for name in productless_kinds())
    return (
        f"Every event except {exempt} names a product."
        if exempt
        else "Every event names a product."
    )


def attributable_kinds() -> list[str]:
    """Kinds that may name the recommendation the shopper followed."""
    return [name for name, kind in EVENT_KINDS.items() if kind.attributable]
