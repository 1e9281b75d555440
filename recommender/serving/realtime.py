"""A shopper's interest right now, from their latest events: weighted products and search queries.

Each event weighs ``kind weight × transform(value) × 2^(-age / half-life)``
(``recommender.core.matrix.live_event_weights``), with the kind weights and value transform
used at training time, so serving and training agree on what a purchase is
worth. Age is measured from the shopper's newest event, not the clock: what matters is the
order of their own clicks (a shopper back after a month still has a "latest session").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from behavior.kinds import EVENT_KINDS, event_weights
from behavior.selectors import RecentEvent
from recommender.core.live import live_event_weights
from recommender.serving.catalog_state import CatalogSnapshot

# Distinct search queries scored per request (the newest, which also weigh most): each costs
# about 0.2 ms against the content index.
MAX_QUERIES = 5


@dataclass
class Profile:
    """Distinct catalog rows the shopper touched lately, with summed weights (strongest first)."""

    rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    weights: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float32))
    # The strongest event kind per row (for "because you bought / viewed X").
    kinds: dict[int, str] = field(default_factory=dict)
    # Distinct search queries (as typed, newest first) with summed weights.
    queries: list[tuple[str, float]] = field(default_factory=list)
    # Every catalog row among the events read (SHELFWISE_RECENT_EVENTS), scored or not: what
    # "for you" does not show again.
    touched: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __bool__(self) -> bool:
        return bool(self.rows.size or self.queries)

    @property
    def product_pks_needed(self) -> np.ndarray:
        return self.rows


def shopper_profile(
    *,
    events: Sequence[RecentEvent],
    catalog: CatalogSnapshot,
    half_life_hours: float | None = None,
    log1p: bool = False,
) -> Profile:
    """The weighted products and queries of the newest SHELFWISE_SCORED_EVENTS of ``events``
    (newest first, as behavior gives them), and every product among all of them (``touched``);
    ``half_life_hours`` and ``log1p`` (each product's summed weight damped) as the served
    model was tuned (None: the setting; the training holdout builds its rows alike)."""
    if not events:
        return Profile()
    touched = _touched(events, catalog)
    events = events[: settings.SHELFWISE_SCORED_EVENTS]
    # Arrays, not a loop per event: a returning shopper brings dozens of events per request.
    # The same function weighs the training holdout's rows, so offline quality is served quality.
    weights = live_event_weights(
        np.array([e.kind for e in events]),
        np.array([np.nan if e.value is None else e.value for e in events], dtype=np.float64),
        np.array([e.occurred_at for e in events], dtype=np.float64),
        kind_weights=event_weights(),
        value_transform=settings.SHELFWISE_VALUE_TRANSFORM,
        half_life_hours=half_life_hours or settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS,
    )
    queries = _distinct_queries(
        (e.query, float(w))
        for e, w in zip(events, weights.tolist(), strict=True)
        if e.product_id is None and e.query and e.query.strip() and w > 0
    )
    pks = np.array([e.product_id or 0 for e in events], dtype=np.int64)
    rows = catalog.rows_of(pks)
    keep = (rows >= 0) & (weights > 0)
    if not keep.any():
        return Profile(queries=queries, touched=touched)
    unique, inverse = np.unique(rows[keep], return_inverse=True)
    summed = np.bincount(inverse, weights=weights[keep])
    summed = (np.log1p(summed) if log1p else summed).astype(np.float32)
    order = np.argsort(-summed, kind="stable")
    return Profile(
        rows=unique[order],
        weights=summed[order],
        kinds=_strongest_kinds(events, rows),
        queries=queries,
        touched=touched,
    )


def _touched(events: Sequence[RecentEvent], catalog: CatalogSnapshot) -> np.ndarray:
    """Distinct catalog rows of the products among ``events`` of a kind that carries weight."""
    weights = event_weights()
    pks = np.array(
        [e.product_id or 0 if weights.get(e.kind, 0.0) > 0 else 0 for e in events], dtype=np.int64
    )
    rows = catalog.rows_of(pks)
    return np.unique(rows[rows >= 0])


def _strongest_kinds(events: Sequence[RecentEvent], rows: np.ndarray) -> dict[int, str]:
    """Catalog row → the strongest kind of event on it (the newest among equals)."""
    known = np.flatnonzero(rows >= 0)
    ranks = np.array([_rank(events[i].kind) for i in known.tolist()], dtype=np.int64)
    # Weakest first and, within a kind, oldest first: the last write per row wins.
    order = known[np.lexsort((-known, ranks))] if known.size else known
    return {int(rows[i]): events[i].kind for i in order.tolist()}


def _rank(kind: str) -> int:
    """The kind's rank in behavior/kinds.py; 0 for a kind no longer in the table."""
    known = EVENT_KINDS.get(kind)
    return known.rank if known else 0


def _distinct_queries(pairs) -> list[tuple[str, float]]:
    """The newest ``MAX_QUERIES`` distinct queries (case and spacing ignored), weights summed."""
    summed: dict[str, list] = {}
    for query, weight in pairs:
        key = " ".join(query.lower().split())
        if key in summed:
            summed[key][1] += weight
        elif len(summed) < MAX_QUERIES:
            summed[key] = [query.strip(), weight]
    return [(query, float(weight)) for query, weight in summed.values()]
