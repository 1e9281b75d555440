"""Business rules every slot applies: what may be shown, how many, and how diverse."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from recommender.core import rerank
from recommender.serving.catalog_state import CatalogSnapshot


class InvalidRequest(ValueError):
    """A request parameter out of range; ``field`` names it for the 400 response."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def checked_k(k: int) -> int:
    """``k`` itself when 1 ≤ k ≤ SHELFWISE_MAX_K; anything else is the caller's error."""
    if not 1 <= k <= settings.SHELFWISE_MAX_K:
        raise InvalidRequest("k", f"Must be between 1 and {settings.SHELFWISE_MAX_K}.")
    return k


def eligible(catalog: CatalogSnapshot, *, excluded_rows: np.ndarray) -> np.ndarray:
    """Bool mask over catalog rows: active, in stock, not in ``excluded_rows`` (e.g. purchased)."""
    mask = catalog.available.copy()
    if excluded_rows.size:
        mask[excluded_rows[excluded_rows >= 0]] = False
    return mask


def diversify(catalog: CatalogSnapshot, *, rows: np.ndarray, k: int) -> np.ndarray:
    """Positions into ``rows`` (best first) keeping at most the configured share per category
    (``core.rerank.diversify`` over the catalog's categories, SHELFWISE_DIVERSITY_MAX_SHARE).

    Never returns fewer than min(k, len(rows)): when one category is all there is, it fills.
    """
    if rows.size == 0:
        return np.empty(0, dtype=np.int64)
    positions = np.arange(rows.size)
    # Rank order as the score: diversify keeps the best of each category first.
    ids, _ = rerank.diversify(
        positions,
        -positions.astype(np.float32),
        catalog.category[rows],
        settings.SHELFWISE_DIVERSITY_MAX_SHARE,
        k,
    )
    return ids[ids >= 0]
