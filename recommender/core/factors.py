"""What every latent-factor model (ALS, SVD) shares: item similarity as the cosine of factors."""

from __future__ import annotations

from typing import Any

import numpy as np

from recommender.core.checks import check_ids, check_item_id
from recommender.core.kernels import FLOAT, item_rows
from recommender.core.ranking import top_k


def unit_rows(factors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), float32."""
    factors = np.asarray(factors)
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    return np.divide(
        factors, norms, out=np.zeros_like(factors, dtype=FLOAT), where=norms > 0
    ).astype(FLOAT)


class ItemFactorCosine:
    """Mixin for ``Recommender`` subclasses that set ``normalized_item_factors`` (n_items, k)."""

    # Listed first in the bases, so only methods Recommender leaves abstract may live here.
    normalized_item_factors: np.ndarray
    n_items: int

    def item_similarity(self, item_id: int, other_ids: np.ndarray) -> np.ndarray:
        """Cosine of item factors between ``item_id`` and each of ``other_ids``."""
        self._require_fitted()
        other_ids = check_ids(other_ids, upper=self.n_items, name="other_ids")
        item_id = check_item_id(item_id, upper=self.n_items)
        return self.normalized_item_factors[other_ids] @ self.normalized_item_factors[item_id]

    def _similarity_block(self, item_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
        """Factor cosines of ``item_ids`` (rows) with ``target_ids`` (columns), one product."""
        unit = self.normalized_item_factors
        return unit[item_ids] @ unit[target_ids].T

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items by factor cosine for each of ``item_ids``, excluding the item itself.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n)
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        scores = self.normalized_item_factors[item_ids] @ self.normalized_item_factors.T
        return top_k(scores, n, exclude=item_rows(item_ids, self.n_items))
