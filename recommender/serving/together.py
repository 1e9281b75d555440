"""Bought together: products purchased in the same orders as a product, then products in the same
order-less sessions, counted with index-backed queries (``behavior.basket_selectors``) and
cached per product for an hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np

from behavior.basket_selectors import co_occurrence_counts
from recommender.serving import reasons
from recommender.serving.cache import cached_response, store_entries
from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.clock import clock_part
from recommender.serving.slots import Pick

# Basket counts move slowly with new orders: cached apart from responses. Precomputing them at
# training time would remove even the first request's cost.
CO_OCCURRENCE_SECONDS = 3600


def co_occurring(
    catalog: CatalogSnapshot, pk: int, title: str, before: datetime | None
) -> Iterator[Pick]:
    """Products bought (else browsed) with product ``pk``, most shared orders (sessions) first."""
    counts = _cached_co_occurrence(product_id=pk, before=before)
    if not counts:
        return
    rows = catalog.rows_of(np.array([c[0] for c in counts], dtype=np.int64))
    for r, (_, orders, sessions) in zip(rows.tolist(), counts, strict=True):
        if r < 0:
            continue
        # The reason names what happened: a shared order, else only a shared session.
        if orders:
            reason = reasons.bought_together(title=title, orders=orders)
        else:
            reason = reasons.browsed_together(title=title, sessions=sessions)
        yield Pick(r, float(orders or sessions), "co_occurrence", reason)


def _cached_co_occurrence(
    *, product_id: int, before: datetime | None
) -> list[tuple[int, int, int]]:
    """``co_occurrence_counts``, cached per product and clock."""
    # v3: orders and sessions apart (v2 cached their sum, which every reason called "bought").
    key = f"serving:bought-together:v3:{product_id}{clock_part(before)}"
    cached = cached_response(key)
    if isinstance(cached, list):
        return cached
    ranked = co_occurrence_counts(product_id=product_id, before=before)
    store_entries({key: (ranked, CO_OCCURRENCE_SECONDS)})
    return ranked
