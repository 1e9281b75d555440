"""Non-personalised baselines: popularity, trending, and the most popular items per segment.

These are the cold-start fallback (a new shopper, a slot with nothing personal to say) and the
bar every personalised model must clear offline.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import Recommender
from recommender.core.checks import check_ids, check_user_items
from recommender.core.kernels import FLOAT, item_rows
from recommender.core.ranking import top_k

# Segments are ranked a few at a time so the dense (segments, n_items) block stays small.
SEGMENT_BLOCK = 64


class Popularity(Recommender):
    """Items ranked by how many distinct shoppers interacted with them.

    score_i = |{u : x_ui > 0}|. Counting shoppers rather than summing weights means one shopper
    clicking an item a hundred times counts once.

    Attributes
    ----------
    item_scores : float32 array, shape (n_items,)
    """

    name: ClassVar[str] = "popularity"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("item_scores",)
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {"item_scores": ("n_items",)}
    personalized: ClassVar[bool] = False

    def __init__(self) -> None:
        self.item_scores = np.zeros(0, dtype=FLOAT)

    def fit(self, user_items: sp.csr_matrix) -> Popularity:
        """Count shoppers per item in ``user_items``, shape (n_users, n_items)."""
        X = check_user_items(user_items)
        self.item_scores = self._item_scores(X)
        self.n_users, self.n_items = X.shape
        return self

    def _item_scores(self, X: sp.csr_matrix) -> np.ndarray:
        return np.bincount(X.indices[X.data > 0], minlength=X.shape[1]).astype(FLOAT)

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """The same item scores for every row, shape (n_rows, n_items)."""
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        return np.broadcast_to(self.item_scores, (rows.shape[0], self.n_items)).copy()

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """The item scores, shape (n_items,), whatever the shopper touched (pairs are still
        validated so bad input fails the same way as on the batch path)."""
        self._require_fitted()
        self.request_pairs(item_ids, weights)
        return self.item_scores.astype(FLOAT, copy=True)

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """No notion of similarity: the most popular other items for each query item.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n)
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        scores = np.broadcast_to(self.item_scores, (item_ids.size, self.n_items))
        itself = item_rows(item_ids, self.n_items)
        return top_k(scores, n, exclude=itself)

    def _explain(
        self, item_id: int, item_ids: np.ndarray, weights: np.ndarray | None
    ) -> tuple[int, float]:
        """Popularity ignores the shopper's items, so none of them explains a score (the base
        ``explain`` has checked the request)."""
        return -1, 0.0

    def _after_load(self) -> None:
        self.item_scores = np.asarray(self.item_scores, dtype=FLOAT)


class Trending(Popularity):
    """Popularity with recency: fit on a time-decayed matrix (``build_interaction_matrix`` with
    ``half_life_days``, e.g. 7) so items many shoppers touched *lately* rank first.

    score_i = Σ_u min(x_ui, per_user_cap). Each shopper counts at most ``per_user_cap``, so a
    bot or an enthusiast cannot make an item trend alone, while an interaction several
    half-lives old counts for only a fraction of a fresh one.

    Parameters
    ----------
    per_user_cap : float
        The most one shopper contributes to an item's score (in matrix weight units).
    """

    name: ClassVar[str] = "trending"

    def __init__(self, per_user_cap: float = 1.0) -> None:
        super().__init__()
        if not per_user_cap > 0:
            raise ValueError(f"per_user_cap must be positive, got {per_user_cap}")
        self.per_user_cap = float(per_user_cap)

    @property
    def params(self) -> dict[str, Any]:
        return {"per_user_cap": self.per_user_cap}

    def _item_scores(self, X: sp.csr_matrix) -> np.ndarray:
        capped = np.minimum(X.data, self.per_user_cap)
        return np.bincount(X.indices, weights=capped, minlength=X.shape[1]).astype(FLOAT)


def popular_by_user_segment(
    user_items: sp.csr_matrix,
    user_segments: Any,
    n: int = 10,
    *,
    per_user_cap: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``n`` items among the shoppers of each segment (country, segment, interest).

    counts = G @ B where G (n_segments, n_users) is the one-hot segment membership and B the
    user-item matrix with each entry capped at ``per_user_cap`` (``None``: distinct shoppers,
    i.e. B binary). One sparse product ranks every segment at once.

    Parameters
    ----------
    user_items : csr_matrix, shape (n_users, n_items)
    user_segments : array, shape (n_users,)
        A label per shopper (ints or strings); shoppers with no segment may use any label
        (e.g. "") and simply form a segment of their own.
    n : int
    per_user_cap : float, optional
        As in ``Trending``: pass a time-decayed matrix and a cap for "trending in DE".

    Returns
    -------
    labels : array, shape (n_segments,)
        Sorted distinct segment labels.
    ids, scores : arrays of shape (n_segments, n); ids -1 where a segment touched fewer items.
    """
    X = check_user_items(user_items).copy()  # the caller's matrix is not ours to change
    labels, codes = _codes(user_segments, X.shape[0], "user_segments")
    if per_user_cap is None:
        # A stored 0 is no interaction: it must become 0, not a shopper, before eliminate_zeros.
        X.data = (X.data > 0).astype(FLOAT)
    else:
        X.data = np.minimum(X.data, per_user_cap)
    X.eliminate_zeros()
    G = sp.csr_matrix(
        (np.ones(codes.size, dtype=FLOAT), (codes, np.arange(codes.size))),
        shape=(labels.size, codes.size),
    )
    counts = (G @ X).tocsr()
    return (labels, *_top_of_sparse_rows(counts, n))


def popular_by_item_group(
    item_scores: Any, item_groups: Any, n: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``n`` items of each item group (category, brand) by a global score.

    One lexsort by (group, -score) and a rank-within-group: no loop over groups.

    Parameters
    ----------
    item_scores : float array, shape (n_items,)
        E.g. ``Popularity().fit(X).item_scores``; non-finite scores are never returned.
    item_groups : array, shape (n_items,)
        A label per item (ints or strings).

    Returns
    -------
    labels : array, shape (n_groups,)
    ids, scores : arrays of shape (n_groups, n); ids -1 where a group has fewer items.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    scores = np.asarray(item_scores, dtype=FLOAT).ravel()
    labels, codes = _codes(item_groups, scores.size, "item_groups")
    eligible = np.flatnonzero(np.isfinite(scores))
    codes_e, scores_e = codes[eligible], scores[eligible]
    # Ties keep the lower item index first, as in top_k.
    order = np.lexsort((eligible, -scores_e, codes_e))
    group = codes_e[order]
    counts = np.bincount(group, minlength=labels.size)
    rank = np.arange(order.size) - (np.cumsum(counts) - counts)[group]
    keep = rank < n
    ids = np.full((labels.size, n), -1, dtype=np.int64)
    top = np.full((labels.size, n), -np.inf, dtype=FLOAT)
    ids[group[keep], rank[keep]] = eligible[order[keep]]
    top[group[keep], rank[keep]] = scores_e[order[keep]]
    return labels, ids, top


def _codes(labels: Any, length: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(labels)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {array.shape}")
    if array.dtype.kind == "O":
        array = array.astype(str)
    distinct, codes = np.unique(array, return_inverse=True)
    return distinct, codes.astype(np.int64)


def _top_of_sparse_rows(counts: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``top_k`` over the rows of a sparse matrix, densifying ``SEGMENT_BLOCK`` rows at a time;
    columns never stored are ineligible (-inf), so segments list only items they touched."""
    ids, scores = [], []
    for start in range(0, counts.shape[0], SEGMENT_BLOCK):
        block = counts[start : start + SEGMENT_BLOCK]
        dense = np.full(block.shape, -np.inf, dtype=FLOAT)
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        dense[rows, block.indices] = block.data
        block_ids, block_scores = top_k(dense, n)
        ids.append(block_ids)
        scores.append(block_scores)
    if not ids:
        return np.zeros((0, n), dtype=np.int64), np.zeros((0, n), dtype=FLOAT)
    return np.vstack(ids), np.vstack(scores)
