"""The traffic simulator's shopper: when a shown item is clicked and bought. Plain Python.

A shopper clicks the item at ``position`` (counted from 1) of a response with probability

    P(click) = min(1, lift x (click_base + click_taste x match) x position_decay^(position - 1))

and, having clicked, buys it (an add-to-cart, then a purchase) with probability

    P(buy | click) = min(1, buy_base + buy_taste x match)

where ``match`` is 1 when the item is in the shopper's planted taste (their declared interests)
and 0 otherwise, and ``lift`` is the multiplier of the A/B variant that served the response (1
outside tests): a variant with lift 1.05 earns 5 % more clicks, and so 5 % more purchases.
Tests and an A/B power study reuse these functions to know the true rates.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ShopperModel:
    """The planted probabilities (defaults give a CTR of a few percent per item, as shops see)."""

    click_base: float = 0.01
    click_taste: float = 0.08
    position_decay: float = 0.85
    buy_base: float = 0.05
    buy_taste: float = 0.25
    visits_per_day: float = 0.6  # chance a shopper comes on a given day
    product_page_share: float = 0.5  # chance a visit also opens a product page

    def __post_init__(self) -> None:
        for name in ("click_base", "click_taste", "buy_base", "buy_taste", "visits_per_day"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if not 0 < self.position_decay <= 1:
            raise ValueError(f"position_decay must be within (0, 1], got {self.position_decay}")


DEFAULT_MODEL = ShopperModel()


def click_probability(
    *, match: float, position: int, lift: float = 1.0, model: ShopperModel = DEFAULT_MODEL
) -> float:
    """P(the item at ``position`` is clicked) for a shopper whose taste it matches by ``match``."""
    if position < 1:
        raise ValueError(f"position counts from 1, got {position}")
    if lift < 0:
        raise ValueError(f"lift must not be negative, got {lift}")
    base = model.click_base + model.click_taste * match
    return min(1.0, lift * base * model.position_decay ** (position - 1))


def buy_probability(*, match: float, model: ShopperModel = DEFAULT_MODEL) -> float:
    """P(a clicked item is bought)."""
    return min(1.0, model.buy_base + model.buy_taste * match)


@dataclass
class Expected:
    """Successes and their expected count and variance (a sum of Bernoulli trials)."""

    observed: int = 0
    expected: float = 0.0
    variance: float = 0.0

    def add(self, p: float, happened: bool) -> None:
        self.observed += happened
        self.expected += p
        self.variance += p * (1 - p)

    def within(self, z: float = 3.29) -> bool:
        """``observed`` inside ``expected`` +- ``z`` standard deviations (3.29: 99.9 %)."""
        return abs(self.observed - self.expected) <= z * math.sqrt(self.variance) + 1e-9


@dataclass(frozen=True)
class ItemOutcome:
    sku: str
    position: int
    clicked: bool
    bought: bool


@dataclass
class TrafficReport:
    """What the simulated shoppers saw and did, per variant, with the planted expectations."""

    visits: int = 0
    responses: int = 0
    clicks: Expected = field(default_factory=Expected)
    purchases: Expected = field(default_factory=Expected)
    per_variant: dict[str, list[int]] = field(default_factory=dict)  # [responses, clicks, buys]

    def count(self, *, variant: str, outcomes: list[ItemOutcome]) -> None:
        tally = self.per_variant.setdefault(variant, [0, 0, 0])
        tally[0] += 1
        tally[1] += sum(o.clicked for o in outcomes)
        tally[2] += sum(o.bought for o in outcomes)
        self.responses += 1


def react(
    *,
    skus: list[str],
    matches: list[float],
    rng: random.Random,
    lift: float = 1.0,
    model: ShopperModel = DEFAULT_MODEL,
    report: TrafficReport | None = None,
) -> list[ItemOutcome]:
    """What one shopper does with one response (``skus`` best first, their taste ``matches``)."""
    outcomes = []
    for position, (sku, match) in enumerate(zip(skus, matches, strict=True), start=1):
        p_click = click_probability(match=match, position=position, lift=lift, model=model)
        p_buy = buy_probability(match=match, model=model)
        clicked = rng.random() < p_click
        bought = clicked and rng.random() < p_buy
        if report is not None:
            report.clicks.add(p_click, clicked)
            report.purchases.add(p_click * p_buy, bought)
        outcomes.append(ItemOutcome(sku=sku, position=position, clicked=clicked, bought=bought))
    return outcomes


def lift_of(variant: str, lifts: Mapping[str, float]) -> float:
    """The click multiplier of whatever variant served a response (1 when none is planted).

    A response names its variant ``"<experiment id>:<variant name>"`` (the placement API's
    ``variant``); ``lifts`` may key it that way or by the variant's name alone, as a command
    line does (``--lift B=1.05``), the full key winning."""
    if variant in lifts:
        return lifts[variant]
    _experiment, _sep, name = variant.rpartition(":")
    return lifts.get(name, 1.0) if name else 1.0


def parse_lifts(specs: Iterable[str]) -> dict[str, float]:
    """``["B=1.05", ...]`` as ``{"B": 1.05}``; ValueError naming the bad one."""
    lifts: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            lift = float(value)
        except ValueError:
            lift = math.nan
        if not sep or not name.strip() or not math.isfinite(lift) or lift < 0:
            raise ValueError(
                f"{spec!r}: expected VARIANT=MULTIPLIER with a multiplier of 0 or more, e.g. B=1.05"
            )
        lifts[name.strip()] = lift
    return lifts
