"""RP3beta: item-item random walks with a popularity penalty (Paudel et al. 2016).

Dacrema et al. (2019, "Are we really making much progress?") found it among the strongest
simple baselines. It is an item-kNN whose similarity is the probability of a three-step walk
item -> user -> item, with every step's transition probability raised to ``alpha`` and the
destination divided by its popularity to the power ``beta``; ``beta`` trades accuracy on
popular items for coverage of the catalogue. Scoring, real time, ``explain`` and persistence
are ``ItemKNN``'s: only the similarity differs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT
from recommender.core.knn import Entry, ItemKNN


class RP3Beta(ItemKNN):
    """Item-item RP3beta, top ``k_neighbors`` per item.

    W_ij = Σ_u P_iu^α P_uj^α / pop_j^β, where P_iu = 1 / |U_i| for each shopper u of item i
    (the walk from an item to one of its shoppers), P_uj = x_uj / Σ_j' x_uj' (from a shopper
    to one of their items, by weight) and pop_j = |U_j|. The item itself is never its own
    neighbour. As in Dacrema et al.'s reference code, the kept row may be scaled to sum to 1.

    Parameters
    ----------
    alpha : float
        Exponent of the transition probabilities: below 1 flattens them (a shopper with many
        items still counts), above 1 sharpens them.
    beta : float
        Popularity penalty: 0 is plain P3 (walk probabilities, dominated by popular items);
        larger values push the long tail up.
    k_neighbors : int
        Neighbours kept per item.
    normalize : bool
        Scale each item's kept neighbours to sum to 1, so every item the shopper touched
        casts the same total vote.
    num_threads : int
        Worker threads for the blocked build.

    Attributes
    ----------
    similarity : csr_matrix, float32, shape (n_items, n_items)
        Row ``i``: the top ``k_neighbors`` of W_i· (never ``i`` itself).
    """

    name: ClassVar[str] = "rp3beta"

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 0.6,
        k_neighbors: int = 100,
        normalize: bool = False,
        num_threads: int = 2,
    ) -> None:
        super().__init__(similarity="dot", k_neighbors=k_neighbors, num_threads=num_threads)
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.similarity_kind = "rp3beta"
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.normalize = bool(normalize)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "k_neighbors": self.k_neighbors,
            "normalize": self.normalize,
            "num_threads": self.num_threads,
        }

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> RP3Beta:
        return cls(k_neighbors=5).fit(user_items)

    def fit(self, user_items: sp.csr_matrix) -> RP3Beta:
        """Build the top-k RP3beta matrix from ``user_items`` (n_users, n_items), weights >= 0."""
        super().fit(user_items)
        if self.normalize:
            S = self.similarity
            row_of = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
            sums = np.bincount(row_of, weights=S.data, minlength=S.shape[0])
            # Rows without neighbours have no entries to divide.
            S.data /= np.maximum(sums, 1e-30)[row_of].astype(FLOAT)
        return self

    def _gram_factors(self, X: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix, Entry]:
        X = X.copy()
        X.eliminate_zeros()
        n_users, n_items = X.shape
        user_of = np.repeat(np.arange(n_users), np.diff(X.indptr))
        # P_uj^α = (x_uj / Σ_j' x_uj')^α: the walk from a shopper to one of their items.
        user_sums = np.bincount(user_of, weights=X.data, minlength=n_users)
        right = X.copy()
        right.data = (X.data / user_sums[user_of]) ** self.alpha
        right.data = right.data.astype(FLOAT)
        # P_iu^α = |U_i|^-α: the walk from an item to any of its shoppers, uniformly.
        popularity = np.bincount(X.indices, minlength=n_items).astype(np.float64)
        seen = popularity > 0
        left = X.copy()
        left.data = np.where(seen, popularity, 1.0)[X.indices] ** -self.alpha
        left.data = left.data.astype(FLOAT)
        # 1 / pop_j^β on the destination column; items nobody touched never appear in G.
        penalty = np.zeros(n_items, dtype=FLOAT)
        penalty[seen] = popularity[seen] ** -self.beta

        def entry(rows: np.ndarray, cols: np.ndarray, walks: np.ndarray) -> np.ndarray:
            return walks * penalty[cols]

        return left.T.tocsr(), right, entry
