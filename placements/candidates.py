"""What a placement ranks: the items its slot (and fallback chain) served, with the attributes
rules match on, and the model's relevance in one normalised space.

Scores of different stages are not on one scale (a kNN similarity, a popularity count, 0 for
"newest"), so rules compose with the *rank-normalised* model score: the i-th of n candidates
in the model's order has ``base = 1 - i / n`` (1 for the best). The placement's minimum
relevance is read per served list: score divided by that list's best score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np

from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.results import Recommendation


@dataclass(slots=True)
class Candidate:
    item: Recommendation
    row: int  # catalog row (-1: no longer in the snapshot)
    category: int  # category id, -1 for none
    promoted: bool  # an active promotion covers it
    pk: int  # the product's
    base: float = 0.0  # rank-normalised model score, 1 = the model's best
    score: float = 0.0  # ``base`` composed with boosts and buries
    marks: list[str] = field(default_factory=list)  # what rules did to it, for the preview
    rule_ids: list[int] = field(default_factory=list)  # which rules did it (KPIs per rule)
    _price: Decimal | None = None  # read once a price rule asks

    @property
    def brand(self) -> str:
        return self.item.product.brand

    @property
    def price(self) -> Decimal:
        if self._price is None:
            self._price = Decimal(self.item.product.price)
        return self._price

    @property
    def tags(self) -> tuple[str, ...]:
        return self.item.product.tags

    @property
    def stock(self) -> int | None:
        return self.item.product.stock


def candidates_from(
    items: list[Recommendation],
    *,
    catalog: CatalogSnapshot,
    now: datetime,
    min_relevance: float = 0.0,
) -> list[Candidate]:
    """``items`` as candidates, those scoring below ``min_relevance`` of the list's best
    dropped (a list whose best scores 0, e.g. newest first, keeps everything)."""
    if not items:
        return []
    best = max(item.score for item in items)
    if best > 0 and min_relevance > 0:
        items = [item for item in items if item.score / best >= min_relevance]
    pks = [item.product.id for item in items]
    rows = catalog.rows_of(np.array(pks, dtype=np.int64))
    if len(catalog):
        known = np.maximum(rows, 0)  # a row of -1 is told apart below, not read
        categories = catalog.category[known].tolist()
        on_promotion = promoted_rows(catalog, now=now)[known].tolist()
    else:
        categories = on_promotion = [None] * len(items)
    return [
        Candidate(item, row, category, promoted, pk)
        if row >= 0
        else Candidate(item, -1, -1, False, pk)
        for item, pk, row, category, promoted in zip(
            items, pks, rows.tolist(), categories, on_promotion, strict=True
        )
    ]


def promoted_rows(catalog: CatalogSnapshot, *, now: datetime) -> np.ndarray:
    """Bool mask over catalog rows: covered by a promotion active at ``now`` (kept per snapshot
    and set of active promotions; read-only)."""
    active = catalog.active_promotions(now=now)
    key = ("placements.promoted_rows", *(promotion.id for promotion in active))
    mask = catalog.derived.get(key)
    if mask is None:
        mask = np.zeros(len(catalog), dtype=bool)
        for promotion in active:
            mask[promotion.rows] = True
        mask.flags.writeable = False
        catalog.derived[key] = mask
    return mask


def rank_normalise(candidates: list[Candidate]) -> None:
    """Set ``base`` (and ``score``) from the model's order: 1 for the first, down to 1/n."""
    n = len(candidates)
    for position, candidate in enumerate(candidates):
        candidate.base = candidate.score = 1.0 - position / n


def capped(candidates: list[Candidate], *, per_category: int | None, per_brand: int | None):
    """A predicate telling whether one more of this candidate's category or brand still fits,
    and a ``take`` that counts it; empty brands and missing categories are never capped."""
    categories: dict[int, int] = {}
    brands: dict[str, int] = {}

    def fits(candidate: Candidate) -> bool:
        full_category = (
            per_category is not None
            and candidate.category >= 0
            and categories.get(candidate.category, 0) >= per_category
        )
        full_brand = (
            per_brand is not None
            and bool(candidate.brand)
            and brands.get(candidate.brand, 0) >= per_brand
        )
        return not (full_category or full_brand)

    def take(candidate: Candidate) -> None:
        categories[candidate.category] = categories.get(candidate.category, 0) + 1
        brands[candidate.brand] = brands.get(candidate.brand, 0) + 1

    for candidate in candidates:
        take(candidate)
    return fits, take
