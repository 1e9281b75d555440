"""A day's KPI figures before they are stored: what both refresh paths compute."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from recommender.proof.attribution import Key


@dataclass
class Tally:
    """One placement, variant and model version's counts for the day."""

    impressions: int = 0
    clicks: int = 0  # distinct (response, product) pairs
    carts: int = 0
    purchases: int = 0
    revenue: Decimal = Decimal(0)
    view_through_purchases: int = 0
    view_through_revenue: Decimal = Decimal(0)


@dataclass
class RuleTally(Tally):
    """One rule's counts, on the items it placed or boosted (click-through only)."""

    placement: str = ""


@dataclass
class DayFigures:
    tallies: dict[Key, Tally] = field(default_factory=dict)
    rules: dict[int, RuleTally] = field(default_factory=dict)
    shop_revenue: Decimal = Decimal(0)
    unattributable: int = 0
