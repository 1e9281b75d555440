"""Which recommendation earned each cart and purchase: the rules, on plain rows.

The rules (README, "Proving it works"), with ``H`` = ``SHELFWISE_ATTRIBUTION_HOURS``:

- A click is any view, cart or purchase carrying a served recommendation id; a product counts
  once per response however often it is clicked.
- A cart or purchase carrying a served id counts for it when it happened within H after the
  response was shown.
- A cart or purchase without an id counts for the latest click by the same shopper on the same
  product at most H before it (last touch: revenue is never split or counted twice).
- A purchase neither way attributed counts as view-through for the latest response that showed
  the product to the shopper at most H before it, reported apart from clicks.
- An event naming an id never served is stored but attributed to nothing: "unattributable".

Windows are closed at both ends: exactly H after still counts, a second later does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

Key = tuple[str, str, str]  # placement, variant, model version


@dataclass(frozen=True)
class Shown:
    """A served response, as attribution reads it."""

    id: UUID
    key: Key
    shopper: str  # external id
    items: frozenset[int]
    shown_at: datetime
    # Rule id → the items it placed or boosted in this response (placements; README, "KPIs").
    rules: Mapping[int, frozenset[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Act:
    """A view, cart or purchase."""

    kind: str
    shopper_id: int
    product_id: int
    occurred_at: datetime
    recommendation_id: UUID | None = None
    value: float = 1.0


@dataclass(frozen=True)
class Credit:
    """An act credited to a response: by a click (``through="click"``) or by its showing."""

    act: Act
    shown: Shown
    through: str  # "click" or "view"


def click_of(act: Act, *, shown: Mapping[UUID, Shown]) -> Shown | None:
    """The served response an act names, or None (no id, or one never served)."""
    return shown.get(act.recommendation_id) if act.recommendation_id is not None else None


def credit(
    act: Act,
    *,
    shown: Mapping[UUID, Shown],
    touches: Iterable[Act],
    seen_by_shopper: Iterable[Shown],
    shopper: str,
    window: timedelta,
) -> Credit | None:
    """The response ``act`` (a cart or purchase) counts for, if any.

    ``touches`` are the shopper's acts carrying an id (any time; filtered here), and
    ``seen_by_shopper`` the responses shown to ``shopper`` (the act's shopper's external id).
    """
    if act.recommendation_id is not None:
        named = shown.get(act.recommendation_id)
        if named is not None and _within(named.shown_at, act.occurred_at, window):
            return Credit(act=act, shown=named, through="click")
        return None  # an unknown id, or a stale one: never re-routed to another response
    clicks = [
        (touch.occurred_at, served)
        for touch in touches
        if touch.shopper_id == act.shopper_id
        and touch.product_id == act.product_id
        and _within(touch.occurred_at, act.occurred_at, window)
        and (served := click_of(touch, shown=shown)) is not None
    ]
    if clicks:
        return Credit(act=act, shown=max(clicks, key=lambda c: c[0])[1], through="click")
    if act.kind != "purchase":
        return None
    views = [
        s
        for s in seen_by_shopper
        if s.shopper == shopper
        and act.product_id in s.items
        and _within(s.shown_at, act.occurred_at, window)
    ]
    if views:
        return Credit(act=act, shown=max(views, key=lambda s: s.shown_at), through="view")
    return None


def _within(start: datetime, at: datetime, window: timedelta) -> bool:
    return start <= at <= start + window
