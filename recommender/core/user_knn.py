"""User-kNN (cosine/Pearson): the shopper's most similar users vote for their items.

It keeps the training matrix as its artifact and finds the shopper's neighbours at request
time, so a shopper unseen at fit time is scored from their events alone.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import Recommender
from recommender.core.checks import check_ids, check_positive, check_user_items
from recommender.core.kernels import FLOAT, item_rows, top_per_row
from recommender.core.ranking import top_k

USER_SIMILARITIES = ("cosine", "pearson")


class UserKNN(Recommender):
    """User-based k-nearest-neighbours, computed at request time.

    The shopper's row is compared with every training user; the ``k_neighbors`` most similar
    (positive similarity only) vote for their items with their similarity as weight:
    score_i = Σ_{v ∈ N(u)} s_uv x_vi. The training matrix is the artifact.

    Parameters
    ----------
    similarity : {"cosine", "pearson"}
        ``cosine``: u·v / (‖u‖‖v‖ + shrinkage). ``pearson``: correlation of the full item
        vectors (absent = 0), i.e. (u·v - n ū v̄) / (σ_u σ_v + shrinkage) with σ² = ‖x‖² - n x̄²;
        for binary data this is the phi coefficient. Users without overlap correlate
        negatively and are never neighbours, so only the sparse overlap is computed.
    k_neighbors : int
        Neighbours per shopper.
    shrinkage : float
        Added to the denominator, shrinking similarities resting on little overlap.
    block_rows : int
        Shoppers scored per block, bounding the dense (block, n_users) work.
    """

    name: ClassVar[str] = "user_knn"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("user_items",)
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {
        "user_items": ("n_users", "n_items")
    }

    def __init__(
        self,
        similarity: str = "cosine",
        k_neighbors: int = 50,
        shrinkage: float = 0.0,
        block_rows: int = 512,
    ) -> None:
        if similarity not in USER_SIMILARITIES:
            raise ValueError(f"similarity must be one of {USER_SIMILARITIES}, got {similarity!r}")
        check_positive(k_neighbors=k_neighbors, block_rows=block_rows)
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        self.similarity_kind = similarity
        self.k_neighbors = int(k_neighbors)
        self.shrinkage = float(shrinkage)
        self.block_rows = int(block_rows)
        self.user_items = sp.csr_matrix((0, 0), dtype=FLOAT)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity_kind,
            "k_neighbors": self.k_neighbors,
            "shrinkage": self.shrinkage,
            "block_rows": self.block_rows,
        }

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> UserKNN:
        return cls(k_neighbors=3).fit(user_items)

    def fit(self, user_items: sp.csr_matrix) -> UserKNN:
        """Keep the training matrix, shape (n_users, n_items), and its per-user statistics."""
        # A private copy: check_user_items shares the caller's arrays, and later edits to
        # them must not change a fitted model.
        X = check_user_items(user_items).copy()
        X.eliminate_zeros()
        self.user_items = X
        self.n_users, self.n_items = X.shape
        self._after_load()
        return self

    def _after_load(self) -> None:
        X = sp.csr_matrix(self.user_items, dtype=FLOAT)
        self.user_items = X
        # Item -> users lists: r @ Xᵀ needs them, and transposing per request would cost a copy.
        self._item_users = X.T.tocsr()
        self._sums, self._norms = _row_stats(X, self.similarity_kind)

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Dense scores of shape (n_rows, n_items) for shoppers described by their rows."""
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        return self._score(rows, None)

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Like ``score_from_rows``, but a training user is never their own neighbour."""
        rows = user_items[user_ids]
        known = np.where(user_ids < self.n_users, user_ids, -1)
        return self._score(rows, known)

    def neighbours(self, rows: sp.csr_matrix, self_ids: np.ndarray | None = None) -> sp.csr_matrix:
        """Top-k positive similarities, shape (n_rows, n_users), of each row to training users.

        ``self_ids`` (one per row, -1 for none) names a training user to leave out.
        """
        rows = check_user_items(rows, n_items=self.n_items)
        dots = (rows @ self._item_users).tocsr()
        r = np.repeat(np.arange(rows.shape[0]), np.diff(dots.indptr))
        v = dots.indices
        row_sums, row_norms = _row_stats(rows, self.similarity_kind)
        if self.similarity_kind == "pearson":
            # cov = u·v - n ū v̄ = u·v - (Σu)(Σv)/n
            numerator = dots.data - row_sums[r] * self._sums[v] / self.n_items
        else:
            numerator = dots.data
        s = numerator / np.maximum(row_norms[r] * self._norms[v] + self.shrinkage, 1e-12)
        keep = s > 0
        r, v, s = top_per_row(
            r[keep],
            v[keep],
            s[keep],
            n_rows=rows.shape[0],
            n_cols=self.n_users,
            k=self.k_neighbors,
            skip_cols=None if self_ids is None else np.asarray(self_ids, dtype=np.int64),
        )
        return sp.csr_matrix((s, (r, v)), shape=(rows.shape[0], self.n_users), dtype=FLOAT)

    def _score(self, rows: sp.csr_matrix, self_ids: np.ndarray | None) -> np.ndarray:
        out = np.empty((rows.shape[0], self.n_items), dtype=FLOAT)
        for start in range(0, rows.shape[0], self.block_rows):
            stop = min(start + self.block_rows, rows.shape[0])
            ids = None if self_ids is None else self_ids[start:stop]
            N = self.neighbours(rows[start:stop], ids)
            # score_i = Σ_v s_uv x_vi
            out[start:stop] = (N @ self.user_items).toarray()
        return out

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Items the neighbours of a shopper who touched only this item liked, best first.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n)
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        rows = item_rows(item_ids, self.n_items)
        scores = self._score(rows, None)
        scores[scores <= 0] = -np.inf
        return top_k(scores, n, exclude=rows)

    def _explain(
        self, item_id: int, item_ids: np.ndarray, weights: np.ndarray | None
    ) -> tuple[int, float]:
        """The shopper's item contributing most to ``item_id``'s score, and its share.

        With s_uv = Σ_j r_j x_vj / D_v (cosine), the score decomposes exactly over the
        shopper's items: contribution_j = r_j Σ_{v ∈ N(u)} x_vj x_vi / D_v. For Pearson the
        mean-centring term is left out, so shares are approximate.
        """
        row = self.items_to_row(item_ids, weights)
        N = self.neighbours(row)
        if N.nnz == 0:
            return -1, 0.0
        users = N.indices
        _, row_norm = _row_stats(row, self.similarity_kind)
        D = np.maximum(row_norm[0] * self._norms[users] + self.shrinkage, 1e-12)
        M = self.user_items[users]
        target = M[:, [item_id]].toarray().ravel() / D
        contributions = row.data * (M[:, row.indices].T @ target)
        best = int(np.argmax(contributions))
        total = float(np.abs(contributions).sum())
        if contributions[best] <= 0 or total == 0:
            return -1, 0.0
        return int(row.indices[best]), float(contributions[best] / total)


def _row_stats(X: sp.csr_matrix, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-row sums and the norms the similarity divides by: ‖x‖ (cosine) or σ (Pearson)."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    sums = np.bincount(rows, weights=X.data, minlength=X.shape[0])
    squares = np.bincount(rows, weights=X.data.astype(np.float64) ** 2, minlength=X.shape[0])
    if kind == "pearson":
        # σ² = ‖x‖² - (Σx)²/n
        squares = np.maximum(squares - sums**2 / X.shape[1], 0.0)
    return sums.astype(FLOAT), np.sqrt(squares).astype(FLOAT)
