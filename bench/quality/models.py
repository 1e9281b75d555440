"""The rows' models behind one protocol: ``implicit``'s, and ours decayed, blended or
split into head and tail."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.quality import SEED, THREADS
from recommender.core import ALGORITHMS
from recommender.core.ranking import head_tail, top_k

# implicit warns about BLAS threads at import and about COO input it converts itself.
warnings.filterwarnings("ignore", module="implicit")


def _one_row(item_ids: Any, weights: Any, n_items: int) -> sp.csr_matrix:
    item_ids = np.asarray(item_ids, dtype=np.int64)
    weights = np.ones(item_ids.size, np.float32) if weights is None else np.asarray(weights)
    return sp.csr_matrix(
        (weights.astype(np.float32), (np.zeros(item_ids.size, np.int64), item_ids)),
        shape=(1, n_items),
    )


class ImplicitModel:
    """An ``implicit`` model with ``fit`` / ``recommend`` / ``recommend_from_items``.

    Real time: item-item models score the shopper's row directly, ALS re-solves the user
    vector (``recalculate_user``), BPR cannot fold in a user (reported as n/a).
    """

    def __init__(self, kind: str, **params: Any) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        self.kind = kind
        if kind == "als":
            self.model = AlternatingLeastSquares(num_threads=THREADS, random_state=SEED, **params)
        elif kind == "bpr":
            self.model = BayesianPersonalizedRanking(
                num_threads=THREADS, random_state=SEED, **params
            )
        elif kind == "cosine":
            self.model = CosineRecommender(num_threads=THREADS, **params)
        elif kind == "bm25":
            self.model = BM25Recommender(num_threads=THREADS, **params)
        else:
            raise ValueError(f"unknown implicit model {kind!r}")
        self.n_items = 0

    def fit(self, user_items: sp.csr_matrix) -> ImplicitModel:
        self.n_items = user_items.shape[1]
        # implicit's own threads do the work; a multi-threaded BLAS inside them oversubscribes.
        with threadpool_limits(1, "blas"):
            self.model.fit(sp.csr_matrix(user_items), show_progress=False)
        return self

    def recommend(
        self, user_ids: Any, user_items: sp.csr_matrix, n: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        user_ids = np.asarray(user_ids, dtype=np.int64)
        with threadpool_limits(1, "blas"):
            ids, scores = self.model.recommend(
                user_ids, user_items[user_ids], N=n, filter_already_liked_items=exclude_seen
            )
        return _pad(ids, scores, n)

    def recommend_from_items(
        self, item_ids: Any, weights: Any = None, n: int = 10, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "bpr":
            raise NotImplementedError("implicit's BPR cannot fold in a new user")
        row = _one_row(item_ids, weights, self.n_items)
        extra = {"recalculate_user": True} if self.kind == "als" else {}
        # The exclusion is the shopper's own items: exactly what filter_already_liked masks.
        with threadpool_limits(1, "blas"):
            return self.model.recommend(
                0, row, N=n, filter_already_liked_items=exclude is not None, **extra
            )


def _pad(ids: Any, scores: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    if ids.shape[1] < n:
        pad = n - ids.shape[1]
        ids = np.hstack([ids, np.full((ids.shape[0], pad), -1, np.int64)])
        scores = np.hstack([scores, np.full((ids.shape[0], pad), -np.inf, np.float32)])
    return ids, scores


# -- what we run ---------------------------------------------------------------------------


class Decayed:
    """A core model on recency-weighted rows, w = 2^(-age / half-life), in two places.

    ``half_life_days`` weighs the training matrix the model is fitted on; ``score_half_life_days``
    weighs the shopper's own row when scoring (what serving does with a shopper's recent events:
    the latest purchases say most about the next ones). Either may be None. A matrix is
    recognised as the training matrix by its sparsity (same as ``ages``); any other rows
    (real-time requests) pass through unchanged.
    """

    def __init__(
        self,
        model: Any,
        ages: sp.csr_matrix,
        half_life_days: float | None,
        score_half_life_days: float | None = None,
    ) -> None:
        self.model = model
        self.ages = ages
        self.half_life_days = half_life_days
        self.score_half_life_days = score_half_life_days
        self.n_users = self.n_items = 0

    def _weigh(self, user_items: sp.csr_matrix, half_life: float | None) -> sp.csr_matrix:
        same = user_items.shape == self.ages.shape and np.array_equal(
            user_items.indptr, self.ages.indptr
        )
        if half_life is None or not same:
            return user_items
        weighted = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
        weighted.data = np.exp2(-self.ages.data / half_life).astype(np.float32)
        return weighted

    def fit(self, user_items: sp.csr_matrix) -> Decayed:
        self.model.fit(self._weigh(user_items, self.half_life_days))
        self.n_users, self.n_items = self.model.n_users, self.model.n_items
        return self

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.model.score_users(user_ids, self._weigh(user_items, self.score_half_life_days))

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return self.model.score_from_rows(rows)

    def score_items(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.model.score_items(*args, **kwargs)

    def recommend(
        self, user_ids: Any, user_items: sp.csr_matrix, n: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        user_ids = np.asarray(user_ids, dtype=np.int64)
        scores = self.score_users(user_ids, user_items)
        return top_k(scores, n, exclude=user_items[user_ids] if exclude_seen else None)

    def recommend_from_items(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.model.recommend_from_items(*args, **kwargs)


class BlendRow:
    """The core ``Blend`` over members fitted on their own (possibly decayed) matrices."""

    def __init__(self, members: list[Any], weights: list[float], normalization: str) -> None:
        self.members, self.weights, self.normalization = members, weights, normalization
        self.blend: Any = None

    def fit(self, user_items: sp.csr_matrix) -> BlendRow:
        for member in self.members:
            member.fit(user_items)
        self.blend = ALGORITHMS["blend"](self.members, self.weights, self.normalization)
        return self

    def recommend(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.blend.recommend(*args, **kwargs)

    def recommend_from_items(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.blend.recommend_from_items(*args, **kwargs)

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.blend.score_users(user_ids, user_items)

    def score_items(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.blend.score_items(*args, **kwargs)


class HeadTailRow:
    """``ranking.head_tail`` over two rows: ``n_head`` slots from ``head``, the rest from
    ``tail``, both fitted on the same matrix, on the batch and the real-time path alike."""

    def __init__(self, head: Any, tail: Any, n_head: int) -> None:
        self.head, self.tail, self.n_head = head, tail, n_head

    def fit(self, user_items: sp.csr_matrix) -> HeadTailRow:
        self.head.fit(user_items)
        self.tail.fit(user_items)
        return self

    def recommend(
        self, user_ids: Any, user_items: sp.csr_matrix, n: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        user_ids = np.asarray(user_ids, dtype=np.int64)
        head = self.head.score_users(user_ids, user_items)
        tail = self.tail.score_users(user_ids, user_items)
        exclude = user_items[user_ids] if exclude_seen else None
        return head_tail(head, tail, n, min(self.n_head, n), exclude=exclude)

    def recommend_from_items(
        self, item_ids: Any, weights: Any = None, n: int = 10, exclude: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        head = self.head.score_items(item_ids, weights)
        tail = self.tail.score_items(item_ids, weights)
        mask = None if exclude is None else _one_row(exclude, None, head.size)
        ids, scores = head_tail(head, tail, n, min(self.n_head, n), exclude=mask)
        return ids[0], scores[0]
