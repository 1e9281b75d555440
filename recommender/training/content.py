"""Item features for models that read the catalog (``needs_item_features``, e.g. "content").

A behavioural model only knows products with events in the training window; a content model is
a feature index over the catalog, so that search queries reach every product and a product
nobody has touched yet still has neighbours. Its item index is therefore built here: every
active product, plus inactive ones the matrix knows (a shopper's history may name them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.db.models import Q

from catalog.models import Product
from recommender.core.matrix import IdIndex


@dataclass(frozen=True)
class CatalogFeatures:
    """Feature arrays in ``items`` order, ready for ``ContentModel.fit(**features.arrays())``."""

    items: IdIndex
    texts: list[str]
    categories: np.ndarray  # int64 category id, -1 for none
    brands: list[str]
    prices: np.ndarray  # float64, NaN when unknown

    def arrays(self) -> dict[str, Any]:
        return {
            "item_texts": self.texts,
            "item_categories": [None if c < 0 else int(c) for c in self.categories.tolist()],
            "item_brands": self.brands,
            "item_prices": self.prices,
        }


def catalog_features(*, training_items: IdIndex) -> CatalogFeatures:
    """Text, category, brand and price of every active product and every product in
    ``training_items``, in ascending pk order, read in one query."""
    known = np.asarray(training_items.ids, dtype=np.int64)
    # One query for the active catalog and the (few) inactive products with history; the pk
    # list is bounded by the matrix, which training already holds in memory.
    rows = list(
        Product.objects.filter(Q(is_active=True) | Q(pk__in=known.tolist()))
        .order_by("id")
        .values_list("id", "title", "description", "category_id", "brand", "price")
    )
    n = len(rows)
    # The title twice: it names the product, the description often sells the shop.
    texts = [f"{title} {title} {description or ''}" for _pk, title, description, *_ in rows]
    return CatalogFeatures(
        items=IdIndex(np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)),
        texts=texts,
        categories=np.fromiter((-1 if r[3] is None else r[3] for r in rows), np.int64, count=n),
        brands=[r[4] or "" for r in rows],
        prices=np.fromiter(
            (np.nan if r[5] is None else float(r[5]) for r in rows), np.float64, count=n
        ),
    )


def reindex_columns(matrix: sp.csr_matrix, *, source: IdIndex, target: IdIndex) -> sp.csr_matrix:
    """``matrix`` (columns in ``source`` order) with its columns moved to ``target`` order;
    columns ``target`` lacks are dropped, ``target`` products without events stay empty."""
    columns = target.to_index(source.ids)
    keep = columns >= 0
    projection = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (np.flatnonzero(keep), columns[keep])),
        shape=(len(source), len(target)),
    )
    return sp.csr_matrix(matrix @ projection, dtype=np.float32)


def item_support(matrix: sp.csr_matrix, *, source: IdIndex, target: IdIndex) -> np.ndarray:
    """Distinct shoppers per product of ``target`` in ``matrix`` (0 for products without events).

    Serving weighs behavioural against content neighbours by it: a product with little history
    leans on its description.
    """
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.int64)
    if source == target:
        return counts
    position = source.to_index(target.ids)
    out = np.zeros(len(target), dtype=np.int64)
    out[position >= 0] = counts[position[position >= 0]]
    return out
