"""Offline quality benchmark on the real datasets: Shelfwise's algorithms next to ``implicit``.

Run from the repository root::

    .venv/bin/python -m bench.quality                  # tuned defaults below, every dataset
    .venv/bin/python -m bench.quality --tune           # grid search on a validation split
    .venv/bin/python -m bench.quality --datasets online_retail --splits per_user

For each dataset and split the table gives NDCG@10, Recall@10, MAP@10 and catalogue coverage on
the held-out test interactions (training items excluded, K=10), the fit time, and the median time
of one real-time request (``recommend_from_items`` from the shopper's training items with those
items excluded). Hyper-parameters come from ``TUNED``; ``--tune`` re-derives them on a validation
split carved from the training part only (same method as the test split), never from the test.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.datasets import LOADERS, Interactions
from recommender.core import ALGORITHMS
from recommender.core.evaluation import (
    SplitMatrices,
    catalog_coverage,
    evaluate,
    global_temporal_split,
    ndcg_at_k,
    paired_bootstrap_ratio,
    per_user_metrics,
    per_user_temporal_split,
    split_matrices,
    validation_split,
)
from recommender.core.ranking import head_tail, normalize_scores, top_k

# implicit warns about BLAS threads at import and about COO input it converts itself.
warnings.filterwarnings("ignore", module="implicit")

K = 10
THREADS = 2
REALTIME_REQUESTS = 200
SEED = 42

SPLITS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], float]] = {
    "per_user": (per_user_temporal_split, 0.2),
    "global": (global_temporal_split, 0.1),
}

# Published reference NDCG@10 on Online Retail (issue 3); MovieLens has none, so there the
# anchor is the best measured ``implicit`` row on the same split.
ANCHORS: dict[tuple[str, str], dict[str, float]] = {
    ("online_retail", "per_user"): {
        "EASE": 0.0991,
        "item-kNN cosine": 0.0967,
        "ALS": 0.0894,
        "BPR": 0.0677,
        "popularity": 0.0288,
    },
    ("online_retail", "global"): {
        "EASE": 0.0920,
        "ALS": 0.0900,
        "BM25": 0.0755,
        "popularity": 0.0318,
    },
}
TARGET_RATIO = 1.05


# -- the implicit library behind our protocol -----------------------------------------------


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


@dataclass(frozen=True)
class Spec:
    """One table row: how to build the model from params, and the grid ``--tune`` searches."""

    label: str
    build: Callable[[dict[str, Any]], Any]
    grid: dict[str, list[Any]]
    reference: bool = False  # a row of the implicit library (the anchor side)
    needs: tuple[str, ...] = ()  # ALGORITHMS names that must be registered
    blend_of: tuple[str, ...] = ()  # labels of the members, for blends
    head_tail_of: str | None = None  # label of the tail row, for HeadTailRow (head: grid)


def _ours(name: str, **fixed: Any) -> Callable[[dict[str, Any]], Any]:
    def build(params: dict[str, Any]) -> Any:
        return ALGORITHMS[name](**{**fixed, **params})

    return build


def _implicit(kind: str) -> Callable[[dict[str, Any]], Any]:
    return lambda params: ImplicitModel(kind, **params)


# Recency weighting (days): of the training matrix, and of the shopper's own row when scoring.
FIT_HALF_LIVES = [None, 180.0]
SCORE_HALF_LIVES = [None, 30.0, 90.0]

SPECS: list[Spec] = [
    Spec("popularity", _ours("popularity"), {}, needs=("popularity",)),
    Spec(
        "trending",
        _ours("trending"),
        {"half_life_days": [7.0, 30.0, 90.0]},
        needs=("trending",),
    ),
    Spec(
        "item-kNN cosine",
        _ours("item_knn", similarity="cosine", num_threads=THREADS),
        {
            "k_neighbors": [20, 100],
            "shrinkage": [0.0, 10.0],
            "score_half_life_days": SCORE_HALF_LIVES,
        },
        needs=("item_knn",),
    ),
    Spec(
        # BM25 then the unnormalised dot product: implicit's BM25Recommender.
        "item-kNN bm25",
        _ours("item_knn", similarity="dot", weighting="bm25", num_threads=THREADS),
        {
            "k_neighbors": [100, 300],
            "bm25_k1": [1.2, 3.0],
            "bm25_b": [0.5, 0.75],
            "half_life_days": FIT_HALF_LIVES,
            "score_half_life_days": SCORE_HALF_LIVES,
        },
        needs=("item_knn",),
    ),
    Spec(
        # Item-item random walks with a popularity penalty: beta trades hits for coverage.
        "RP3beta",
        _ours("rp3beta", num_threads=THREADS),
        {
            "alpha": [0.5, 0.75, 1.0],
            "beta": [0.2, 0.4, 0.6],
            "k_neighbors": [50, 200],
            "normalize": [False, True],
            "score_half_life_days": SCORE_HALF_LIVES,
        },
        needs=("rp3beta",),
    ),
    Spec(
        "user-kNN",
        _ours("user_knn"),
        {"k_neighbors": [50, 100, 200], "score_half_life_days": SCORE_HALF_LIVES},
        needs=("user_knn",),
    ),
    Spec(
        "ALS",
        _ours("als", num_threads=THREADS),
        {
            "factors": [128],
            "regularization": [3.0, 10.0, 30.0],
            "alpha": [0.5, 1.0, 2.0],
            "half_life_days": FIT_HALF_LIVES,
        },
        needs=("als",),
    ),
    Spec(
        "EASE",
        _ours("ease"),
        {
            "regularization": [50.0, 100.0, 200.0, 400.0, 800.0],
            "half_life_days": FIT_HALF_LIVES,
            "score_half_life_days": SCORE_HALF_LIVES,
        },
        needs=("ease",),
    ),
    Spec(
        "blend",
        lambda params: None,  # built by build() from the members' tuned params
        # Min-max only: it is what the request path computes cheaply (Blend.score_items).
        {"normalization": ["minmax"]},
        needs=("blend",),
        blend_of=("EASE", "item-kNN bm25", "ALS", "user-kNN", "RP3beta"),
    ),
    Spec(
        # The coverage re-rank (ranking.head_tail): the top slots from an accurate row (its
        # best-NDCG grid point, coverage floor ignored), the rest from RP3beta as tuned (the
        # floor usually makes it a long-tail model). The "blend" head is the accurate blend:
        # its members at their best-NDCG points, its weights at their best NDCG over them.
        "head+RP3 tail",
        lambda params: None,  # built by build() from "head", "head_params" and RP3beta's row
        {
            "head": ["user-kNN", "EASE", "item-kNN bm25", "ALS", "blend"],
            "n_head": [1, 2, 3, 5, 7, 10],
        },
        needs=("rp3beta",),
        head_tail_of="RP3beta",
    ),
    Spec(
        "implicit ALS",
        _implicit("als"),
        {"factors": [128], "regularization": [0.1, 1.0], "alpha": [1.0, 5.0, 20.0]},
        reference=True,
    ),
    Spec(
        "implicit BPR",
        _implicit("bpr"),
        {"factors": [128], "learning_rate": [0.01, 0.05]},
        reference=True,
    ),
    Spec("implicit Cosine", _implicit("cosine"), {"K": [20, 50, 100, 200]}, reference=True),
    Spec(
        "implicit BM25",
        _implicit("bm25"),
        {"K": [50, 100, 200, 300], "K1": [0.3, 1.2, 3.0], "B": [0.5, 0.75]},
        reference=True,
    ),
]

# Chosen by ``--tune`` (validation folds carved from training, best NDCG@10 with coverage no
# lower than the floor of ``coverage_floors``), pasted from its output. Rows missing for a
# dataset/split fall back to DEFAULTS / the class defaults.
TUNED: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "online_retail": {
        "per_user": {
            "implicit ALS": {"factors": 128, "regularization": 0.1, "alpha": 5.0},
            "implicit BPR": {"factors": 128, "learning_rate": 0.05, "regularization": 0.01},
            "implicit Cosine": {"K": 20},
            "implicit BM25": {"K": 200, "K1": 3.0, "B": 0.5},
            "trending": {"half_life_days": 90.0},
            "item-kNN cosine": {"k_neighbors": 20, "shrinkage": 10.0, "score_half_life_days": 30.0},
            "item-kNN bm25": {
                "k_neighbors": 300,
                "bm25_k1": 1.2,
                "bm25_b": 0.5,
                "half_life_days": 180.0,
                "score_half_life_days": 30.0,
            },
            "RP3beta": {
                "alpha": 0.5,
                "beta": 0.6,
                "k_neighbors": 200,
                "normalize": False,
                "score_half_life_days": 30.0,
            },
            "user-kNN": {"k_neighbors": 100, "score_half_life_days": 30.0},
            "ALS": {"factors": 128, "regularization": 30.0, "alpha": 2.0, "half_life_days": None},
            "EASE": {"regularization": 100.0, "half_life_days": None, "score_half_life_days": 90.0},
            "blend": {"weights": [1.0, 0.5, 0.25, 0.0, 0.25], "normalization": "minmax"},
            "head+RP3 tail": {
                "head": "EASE",
                "head_params": {
                    "regularization": 100.0,
                    "half_life_days": None,
                    "score_half_life_days": 90.0,
                },
                "n_head": 10,
            },
        },
        "global": {
            "implicit ALS": {"factors": 128, "regularization": 1.0, "alpha": 1.0},
            "implicit BPR": {"factors": 128, "learning_rate": 0.01, "regularization": 0.01},
            "implicit Cosine": {"K": 20},
            "implicit BM25": {"K": 50, "K1": 1.2, "B": 0.5},
            "trending": {"half_life_days": 7.0},
            "item-kNN cosine": {"k_neighbors": 20, "shrinkage": 10.0, "score_half_life_days": 30.0},
            "item-kNN bm25": {
                "k_neighbors": 300,
                "bm25_k1": 3.0,
                "bm25_b": 0.5,
                "half_life_days": 180.0,
                "score_half_life_days": 30.0,
            },
            "RP3beta": {
                "alpha": 0.5,
                "beta": 0.6,
                "k_neighbors": 200,
                "normalize": False,
                "score_half_life_days": 30.0,
            },
            "user-kNN": {"k_neighbors": 100, "score_half_life_days": 30.0},
            "ALS": {"factors": 128, "regularization": 10.0, "alpha": 2.0, "half_life_days": 180.0},
            "EASE": {
                "regularization": 100.0,
                "half_life_days": 180.0,
                "score_half_life_days": 90.0,
            },
            "blend": {"weights": [0.25, 1.0, 0.5, 0.25, 0.0], "normalization": "minmax"},
            "head+RP3 tail": {
                "head": "item-kNN bm25",
                "head_params": {
                    "k_neighbors": 300,
                    "bm25_k1": 1.2,
                    "bm25_b": 0.5,
                    "half_life_days": 180.0,
                    "score_half_life_days": 90.0,
                },
                "n_head": 7,
            },
        },
    },
    "movielens_100k": {
        "per_user": {
            "implicit ALS": {"factors": 128, "regularization": 1.0, "alpha": 20.0},
            "implicit BPR": {"factors": 128, "learning_rate": 0.01, "regularization": 0.01},
            "implicit Cosine": {"K": 100},
            "implicit BM25": {"K": 300, "K1": 3.0, "B": 0.5},
            "trending": {"half_life_days": 90.0},
            "item-kNN cosine": {"k_neighbors": 100, "shrinkage": 0.0, "score_half_life_days": 90.0},
            "item-kNN bm25": {
                "k_neighbors": 300,
                "bm25_k1": 3.0,
                "bm25_b": 0.5,
                "half_life_days": None,
                "score_half_life_days": None,
            },
            "RP3beta": {
                "alpha": 0.5,
                "beta": 0.6,
                "k_neighbors": 200,
                "normalize": False,
                "score_half_life_days": 90.0,
            },
            "user-kNN": {"k_neighbors": 50, "score_half_life_days": 90.0},
            "ALS": {"factors": 128, "regularization": 10.0, "alpha": 0.5, "half_life_days": 180.0},
            "EASE": {"regularization": 100.0, "half_life_days": None, "score_half_life_days": 90.0},
            "blend": {"weights": [0.0, 0.0, 1.0, 0.0, 1.0], "normalization": "minmax"},
            "head+RP3 tail": {
                "head": "ALS",
                "head_params": {
                    "factors": 128,
                    "regularization": 10.0,
                    "alpha": 0.5,
                    "half_life_days": 180.0,
                },
                "n_head": 7,
            },
        },
        "global": {
            "implicit ALS": {"factors": 128, "regularization": 1.0, "alpha": 1.0},
            "implicit BPR": {"factors": 128, "learning_rate": 0.01, "regularization": 0.01},
            "implicit Cosine": {"K": 50},
            "implicit BM25": {"K": 50, "K1": 0.3, "B": 0.5},
            "trending": {"half_life_days": 7.0},
            "item-kNN cosine": {"k_neighbors": 20, "shrinkage": 10.0, "score_half_life_days": None},
            "item-kNN bm25": {
                "k_neighbors": 300,
                "bm25_k1": 1.2,
                "bm25_b": 0.5,
                "half_life_days": 180.0,
                "score_half_life_days": 30.0,
            },
            "RP3beta": {
                "alpha": 1.0,
                "beta": 0.2,
                "k_neighbors": 50,
                "normalize": False,
                "score_half_life_days": 30.0,
            },
            "user-kNN": {"k_neighbors": 100, "score_half_life_days": 30.0},
            "ALS": {"factors": 128, "regularization": 30.0, "alpha": 2.0, "half_life_days": 180.0},
            "EASE": {
                "regularization": 800.0,
                "half_life_days": 180.0,
                "score_half_life_days": 30.0,
            },
            "blend": {"weights": [1.0, 0.0, 0.0, 0.0, 0.0], "normalization": "minmax"},
            "head+RP3 tail": {
                "head": "EASE",
                "head_params": {
                    "regularization": 800.0,
                    "half_life_days": 180.0,
                    "score_half_life_days": 30.0,
                },
                "n_head": 10,
            },
        },
    },
    "movielens_latest_small": {
        "per_user": {
            "implicit ALS": {"factors": 128, "regularization": 1.0, "alpha": 1.0},
            "implicit BPR": {"factors": 128, "learning_rate": 0.01, "regularization": 0.01},
            "implicit Cosine": {"K": 200},
            "implicit BM25": {"K": 50, "K1": 0.3, "B": 0.5},
            "trending": {"half_life_days": 90.0},
            "item-kNN cosine": {"k_neighbors": 100, "shrinkage": 0.0, "score_half_life_days": 90.0},
            "item-kNN bm25": {
                "k_neighbors": 100,
                "bm25_k1": 1.2,
                "bm25_b": 0.5,
                "half_life_days": None,
                "score_half_life_days": 90.0,
            },
            "RP3beta": {
                "alpha": 0.75,
                "beta": 0.4,
                "k_neighbors": 50,
                "normalize": False,
                "score_half_life_days": 90.0,
            },
            "user-kNN": {"k_neighbors": 50, "score_half_life_days": 90.0},
            "ALS": {"factors": 128, "regularization": 3.0, "alpha": 0.5, "half_life_days": 180.0},
            "EASE": {"regularization": 200.0, "half_life_days": None, "score_half_life_days": 90.0},
            "blend": {"weights": [0.25, 0.5, 0.0, 0.0, 1.0], "normalization": "minmax"},
            "head+RP3 tail": {
                "head": "EASE",
                "head_params": {
                    "regularization": 200.0,
                    "half_life_days": None,
                    "score_half_life_days": 90.0,
                },
                "n_head": 5,
            },
        },
        "global": {
            "implicit ALS": {"factors": 128, "regularization": 1.0, "alpha": 1.0},
            "implicit BPR": {"factors": 128, "learning_rate": 0.01, "regularization": 0.01},
            "implicit Cosine": {"K": 100},
            "implicit BM25": {"K": 300, "K1": 0.3, "B": 0.5},
            "trending": {"half_life_days": 90.0},
            "item-kNN cosine": {"k_neighbors": 100, "shrinkage": 0.0, "score_half_life_days": 30.0},
            "item-kNN bm25": {
                "k_neighbors": 300,
                "bm25_k1": 1.2,
                "bm25_b": 0.75,
                "half_life_days": None,
                "score_half_life_days": 30.0,
            },
            "RP3beta": {
                "alpha": 0.5,
                "beta": 0.6,
                "k_neighbors": 200,
                "normalize": True,
                "score_half_life_days": 30.0,
            },
            "user-kNN": {"k_neighbors": 50, "score_half_life_days": 30.0},
            "ALS": {"factors": 128, "regularization": 3.0, "alpha": 1.0, "half_life_days": None},
            "EASE": {"regularization": 200.0, "half_life_days": None, "score_half_life_days": 30.0},
            "blend": {"weights": [0.25, 0.25, 1.0, 0.25, 0.5], "normalization": "minmax"},
            "head+RP3 tail": {
                "head": "blend",
                "head_params": {
                    "weights": [0.25, 0.5, 1.0, 0.5, 0.5],
                    "normalization": "minmax",
                    "members": {
                        "EASE": {
                            "regularization": 400.0,
                            "half_life_days": None,
                            "score_half_life_days": None,
                        },
                        "item-kNN bm25": {
                            "k_neighbors": 300,
                            "bm25_k1": 1.2,
                            "bm25_b": 0.5,
                            "half_life_days": None,
                            "score_half_life_days": 90.0,
                        },
                        "ALS": {
                            "factors": 128,
                            "regularization": 10.0,
                            "alpha": 0.5,
                            "half_life_days": 180.0,
                        },
                        "user-kNN": {"k_neighbors": 50, "score_half_life_days": 90.0},
                        "RP3beta": {
                            "alpha": 0.75,
                            "beta": 0.2,
                            "k_neighbors": 50,
                            "normalize": True,
                            "score_half_life_days": 90.0,
                        },
                    },
                },
                "n_head": 1,
            },
        },
    },
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "implicit ALS": {"factors": 64, "regularization": 0.1, "alpha": 5.0},
    "implicit BPR": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01},
    "implicit Cosine": {"K": 100},
    "implicit BM25": {"K": 100},
}


def params_for(dataset: str, split: str, label: str) -> dict[str, Any]:
    return dict(TUNED.get(dataset, {}).get(split, {}).get(label, DEFAULTS.get(label, {})))


def available(spec: Spec) -> bool:
    return all(name in ALGORITHMS for name in spec.needs)


def register_algorithms() -> None:
    """Import every core module that may hold algorithms; classes their author has not yet
    listed in ``ALGORITHMS`` are added for this process only, under their ``name``."""
    from recommender.core.base import Recommender

    for module_name in ("popularity", "knn", "rp3beta", "als", "ease", "svd", "content"):
        try:
            module = importlib.import_module(f"recommender.core.{module_name}")
        except Exception as error:  # a module mid-edit by its author must not stop the bench
            print(f"(recommender.core.{module_name} failed to import: {error!r})")
            continue
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Recommender)
                and value.__module__ == module.__name__
                and value.name != "base"
            ):
                ALGORITHMS.setdefault(value.name, value)


# -- running -----------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    metrics: dict[str, float]
    fit_seconds: float
    realtime_ms: float | None
    params: dict[str, Any] = field(default_factory=dict)
    reference: bool = False
    fit_cpu_seconds: float = 0.0
    realtime_cpu_ms: float | None = None
    # NDCG@10 of each scored test shopper, in user order: the same shoppers in every row.
    per_user_ndcg: np.ndarray | None = None


@dataclass(frozen=True)
class Prepared:
    """A split's matrices plus each training pair's age in days (same sparsity as ``train``)."""

    matrices: SplitMatrices
    ages: sp.csr_matrix

    @property
    def train(self) -> sp.csr_matrix:
        return self.matrices.train

    @property
    def test(self) -> sp.csr_matrix:
        return self.matrices.test


def _prepare(data: Interactions, train_idx: np.ndarray, test_idx: np.ndarray) -> Prepared:
    matrices = split_matrices(data.users, data.items, data.values, train_idx, test_idx)
    # +1 day keeps the newest pair's age non-zero, so it survives as a stored entry.
    ages = (data.times[train_idx].max() - data.times) / 86_400.0 + 1.0
    aged = split_matrices(data.users, data.items, ages, train_idx, test_idx).train
    if not np.array_equal(aged.indices, matrices.train.indices):
        raise ValueError("duplicate (user, item) pairs: ages need one interaction per pair")
    aged.data -= 1.0
    return Prepared(matrices, aged)


def make_split(data: Interactions, split: str) -> Prepared:
    splitter, fraction = SPLITS[split]
    return _prepare(data, *splitter(data.users, data.items, data.times, fraction))


# A validation fold with few shoppers makes tuning a lottery: the global split of ML
# latest-small leaves 20 (its windows are mostly first-time raters, dropped as cold), and its
# coverage tops out at 200 distinct items. Folds are added until this many shoppers are scored.
MIN_VALIDATION_USERS = 100
MAX_VALIDATION_FOLDS = 5


def scored_users(prepared: Prepared) -> int:
    """Shoppers ``evaluate`` scores: a held-out pair and at least one training row."""
    return int(((np.diff(prepared.test.indptr) > 0) & (np.diff(prepared.train.indptr) > 0)).sum())


def make_validations(data: Interactions, split: str) -> list[Prepared]:
    """Validation folds carved from the training part only, by the same method as the test split.

    The first fold holds out the latest ``fraction`` of training (globally or per user) and fits
    on the rest. While the folds together score fewer than ``MIN_VALIDATION_USERS`` shoppers,
    the next fold repeats the carve on the previous fold's fitting part (a rolling origin, one
    window further back), up to ``MAX_VALIDATION_FOLDS``. Nothing at or after the test split's
    cut is ever used.
    """
    splitter, fraction = SPLITS[split]
    fit_idx, _ = splitter(data.users, data.items, data.times, fraction)
    folds: list[Prepared] = []
    scored = 0
    while len(folds) < MAX_VALIDATION_FOLDS and scored < MIN_VALIDATION_USERS:
        fit_idx, val_idx = validation_split(
            data.users, data.items, data.times, fit_idx, method=split, fraction=fraction
        )
        folds.append(_prepare(data, fit_idx, val_idx))
        scored += scored_users(folds[-1])
    return folds


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


def realtime_ms(model: Any, prepared: Prepared) -> tuple[float, float] | None:
    """Median wall and CPU ms of ``recommend_from_items`` for sampled test shoppers, own items
    excluded. CPU is this thread's time: what the request costs even when a loaded machine
    makes it wait for a core (for ``implicit`` it misses work done on its own threads)."""
    users = np.flatnonzero(np.diff(prepared.test.indptr) > 0)
    rng = np.random.default_rng(SEED)
    users = rng.choice(users, size=min(REALTIME_REQUESTS, users.size), replace=False)
    train = prepared.train
    timings, cpu = [], []
    try:
        # One BLAS thread, as a web worker serves a request.
        with threadpool_limits(1, "blas"):
            for user in users:
                items = train.indices[train.indptr[user] : train.indptr[user + 1]]
                start, start_cpu = time.perf_counter(), time.thread_time()
                model.recommend_from_items(items, n=K, exclude=items)
                cpu.append(time.thread_time() - start_cpu)
                timings.append(time.perf_counter() - start)
    except NotImplementedError:
        return None
    return float(np.median(timings) * 1000), float(np.median(cpu) * 1000)


def build(spec: Spec, params: dict[str, Any], ages: sp.csr_matrix, dataset: str, split: str) -> Any:
    """The model for ``spec`` with ``params``; ``half_life_days`` wraps it in ``Decayed``."""
    if spec.head_tail_of:
        by_label = {s.label: s for s in SPECS}
        head_label = params.get("head", spec.grid["head"][0])
        head_params = params.get("head_params", params_for(dataset, split, head_label))
        head = build(by_label[head_label], head_params, ages, dataset, split)
        tail_label = spec.head_tail_of
        tail = build(
            by_label[tail_label], params_for(dataset, split, tail_label), ages, dataset, split
        )
        return HeadTailRow(head, tail, int(params.get("n_head", K)))
    if spec.blend_of:
        by_label = {s.label: s for s in SPECS}
        labels = [label for label in spec.blend_of if available(by_label[label])]
        # "members" (the accurate blend, a head of head+RP3 tail) overrides the members' rows.
        chosen = params.get("members", {})
        members = [
            build(
                by_label[label],
                chosen.get(label, params_for(dataset, split, label)),
                ages,
                dataset,
                split,
            )
            for label in labels
        ]
        weights = params.get("weights", [1.0] * len(members))
        return BlendRow(members, weights, params.get("normalization", "minmax"))
    params = dict(params)
    half_life = params.pop("half_life_days", None)
    score_half_life = params.pop("score_half_life_days", None)
    model = spec.build(params)
    # Trending is popularity on a decayed matrix by definition; others may tune half-lives.
    if half_life is None and score_half_life is None:
        return model
    return Decayed(model, ages, half_life, score_half_life)


def run_row(
    spec: Spec, params: dict[str, Any], prepared: Prepared, dataset: str, split: str
) -> Row:
    model = build(spec, params, prepared.ages, dataset, split)
    start, start_cpu = time.perf_counter(), time.process_time()
    model.fit(prepared.train)
    fit_seconds, fit_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    metrics = evaluate(model, prepared.train, prepared.test, k=K)
    realtime = realtime_ms(model, prepared)
    return Row(
        spec.label,
        metrics,
        fit_seconds,
        None if realtime is None else realtime[0],
        params,
        spec.reference,
        fit_cpu,
        None if realtime is None else realtime[1],
        per_user_ndcg(model, prepared),
    )


SCORING_KEYS = ("score_half_life_days",)  # change scoring only: one fit serves every value


@dataclass(frozen=True)
class Tuned:
    """The chosen grid point of one row and its validation NDCG@10 and coverage."""

    params: dict[str, Any]
    ndcg: float
    coverage: float


def choose(points: list[Tuned], floors: Sequence[float]) -> tuple[Tuned, str]:
    """The best-NDCG point whose coverage reaches the first floor any point reaches (``floors``
    descending: the issue's target asks for coverage no lower than the anchor's); the best-NDCG
    point when none is reached."""
    for rank, floor in enumerate(floors):
        eligible = [p for p in points if p.coverage >= floor]
        if eligible:
            note = "" if rank == 0 else f" (coverage {floors[0]:.4f} not reached: {floor:.4f})"
            return max(eligible, key=lambda p: p.ndcg), note
    note = f" (no grid point reaches coverage {floors[-1]:.4f})" if floors else ""
    return max(points, key=lambda p: p.ndcg), note


def pooled(folds: list[Prepared], per_fold: list[list[Tuned]]) -> list[Tuned]:
    """One point per grid point over every fold: NDCG@10 averaged over all scored shoppers
    (each fold weighted by its shoppers), coverage the mean of the folds' coverages."""
    weights = np.array([scored_users(fold) for fold in folds], dtype=np.float64)
    weights /= max(weights.sum(), 1.0)
    return [
        Tuned(
            points[0].params,
            float(sum(w * p.ndcg for w, p in zip(weights, points, strict=True))),
            float(np.mean([p.coverage for p in points])),
        )
        for points in zip(*per_fold, strict=True)
    ]


# Each row's best-NDCG grid point of this tuning run, coverage floor ignored: the heads
# ``head_tail_points`` tries. Filled by ``tune``; the chosen head's params go into TUNED.
ACCURATE: dict[tuple[str, str, str], dict[str, Any]] = {}


def tune(
    spec: Spec, folds: list[Prepared], dataset: str, split: str, floors: Sequence[float] = ()
) -> Tuned:
    """Grid search on the validation folds: the best NDCG@10 with coverage >= a floor
    (see ``choose``)."""
    if spec.blend_of:
        points = pooled(folds, [blend_points(spec, f, dataset, split) for f in folds])
    elif spec.head_tail_of:
        heads = head_candidates(spec, folds, dataset, split)
        points = pooled(folds, [head_tail_points(spec, f, heads, dataset, split) for f in folds])
    else:
        points = pooled(folds, [grid_points(spec, f, dataset, split) for f in folds])
    ACCURATE[(dataset, split, spec.label)] = choose(points, ())[0].params
    best, note = choose(points, floors)
    print(
        f"    tuned {spec.label:<18} val NDCG@{K} {best.ndcg:.4f} cover {best.coverage:.3f}  "
        f"{best.params}{note}",
        flush=True,
    )
    return best


def grid_points(spec: Spec, validation: Prepared, dataset: str, split: str) -> list[Tuned]:
    """Validation NDCG@10 and coverage of every grid point, in grid order.

    Grid keys in ``SCORING_KEYS`` do not change the fitted model, so each fit is evaluated
    under every combination of them instead of being refitted.
    """
    # Start from the fixed defaults, not from a previous TUNED entry of a different grid.
    base = dict(DEFAULTS.get(spec.label, {}))
    points = []
    fit_keys = [key for key in spec.grid if key not in SCORING_KEYS]
    score_keys = [key for key in spec.grid if key in SCORING_KEYS]
    for values in itertools.product(*(spec.grid[key] for key in fit_keys)):
        fit_params = {**base, **dict(zip(fit_keys, values, strict=True))}
        model = None
        for score_values in itertools.product(*(spec.grid[key] for key in score_keys)):
            params = {**fit_params, **dict(zip(score_keys, score_values, strict=True))}
            if model is None:
                # Always wrapped when scoring keys are tuned, so they can be swapped in place.
                model = build(spec, params, validation.ages, dataset, split)
                if score_keys and not isinstance(model, Decayed):
                    model = Decayed(model, validation.ages, None, None)
                model.fit(validation.train)
            for key in score_keys:
                setattr(model, key, params[key])
            metrics = evaluate(model, validation.train, validation.test, k=K)
            points.append(Tuned(params, metrics[f"ndcg@{K}"], metrics["coverage"]))
    return points


BLEND_WEIGHTS = (0.0, 0.25, 0.5, 1.0)


def blend_points(
    spec: Spec,
    validation: Prepared,
    dataset: str,
    split: str,
    members: dict[str, dict[str, Any]] | None = None,
) -> list[Tuned]:
    """Weights and normalisation over a small grid; members are fitted once and their
    normalised validation scores cached, so each grid point is one weighted sum and top-k.
    ``members`` overrides the members' params (default: their rows as tuned)."""
    train, test = validation.train, validation.test
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    extra = {"members": members} if members else {}
    row = build(spec, extra, validation.ages, dataset, split).fit(train)
    raw = [np.asarray(m.score_users(users, train), dtype=np.float32) for m in row.members]
    exclude, relevant = train[users], test[users]
    points = []
    for method in spec.grid["normalization"]:
        cached = [normalize_scores(scores, method) for scores in raw]
        for weights in itertools.product(BLEND_WEIGHTS, repeat=len(cached)):
            if max(weights) != 1.0:  # scale-free: fix the largest weight at 1
                continue
            scores = sum(w * c for w, c in zip(weights, cached, strict=True) if w)
            ids = top_k(scores, K, exclude=exclude)[0]
            points.append(
                Tuned(
                    {"weights": list(weights), "normalization": method},
                    ndcg_at_k(ids, relevant),
                    catalog_coverage(ids, train.shape[1]),
                )
            )
    return points


def head_candidates(
    spec: Spec, folds: list[Prepared], dataset: str, split: str
) -> dict[str, dict[str, Any]]:
    """Each head of the grid at its most accurate point of this run (``ACCURATE``, coverage
    floor ignored). The blend's own tuning ran over its members as floored, so the accurate
    blend is tuned here a second time: members at their ``ACCURATE`` points, weights at the
    best pooled validation NDCG@10 over them (no floor)."""
    by_label = {s.label: s for s in SPECS}
    heads = {}
    for label in spec.grid["head"]:
        blend_spec = by_label[label]
        if not blend_spec.blend_of:
            heads[label] = ACCURATE.get((dataset, split, label), params_for(dataset, split, label))
            continue
        members = {
            member: ACCURATE.get((dataset, split, member), params_for(dataset, split, member))
            for member in blend_spec.blend_of
            if available(by_label[member])
        }
        points = pooled(
            folds, [blend_points(blend_spec, f, dataset, split, members) for f in folds]
        )
        best = choose(points, ())[0]
        print(
            f"    accurate blend head val NDCG@{K} {best.ndcg:.4f} cover {best.coverage:.3f}  "
            f"{best.params}",
            flush=True,
        )
        heads[label] = {**best.params, "members": members}
    return heads


def head_tail_points(
    spec: Spec,
    validation: Prepared,
    heads: dict[str, dict[str, Any]],
    dataset: str,
    split: str,
) -> list[Tuned]:
    """Every (head, n_head) of the grid; each head row, at the params ``heads`` gives it
    (``head_candidates``), and the tail row are fitted and scored once."""
    train, test = validation.train, validation.test
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    exclude, relevant = train[users], test[users]
    points = []
    tail = None
    for label in spec.grid["head"]:
        params = {"head": label, "head_params": heads[label]}
        row = build(spec, params, validation.ages, dataset, split)
        row.head.fit(train)
        if tail is None:
            row.tail.fit(train)
            tail = np.asarray(row.tail.score_users(users, train), dtype=np.float32)
        head = np.asarray(row.head.score_users(users, train), dtype=np.float32)
        for n_head in spec.grid["n_head"]:
            ids = head_tail(head, tail, K, min(n_head, K), exclude=exclude)[0]
            points.append(
                Tuned(
                    {**params, "n_head": n_head},
                    ndcg_at_k(ids, relevant),
                    catalog_coverage(ids, train.shape[1]),
                )
            )
    return points


def per_user_ndcg(model: Any, prepared: Prepared) -> np.ndarray:
    """NDCG@10 of each scored shopper of a split or fold, shape (n_scored,), in user order."""
    train, test = prepared.train, prepared.test
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    ids = model.recommend(users, train, n=K, exclude_seen=True)[0]
    return per_user_metrics(ids, test[users], K)["ndcg"]


# A reference row within this many standard errors of the best one (paired over the same
# validation shoppers) could be the best on the test split too, so it may be the anchor.
ANCHOR_Z = 2.0


def coverage_floors(
    references: list[tuple[Spec, Tuned]], folds: list[Prepared], dataset: str, split: str
) -> list[float]:
    """Coverage floors for our rows, strictest first.

    The target compares coverage with the anchor, the best ``implicit`` row on the test split.
    On a small validation several rows are statistically tied for best, and which of them wins
    on test is chance (ML latest-small global: BPR trails BM25 by 1.4 standard errors on
    validation and leads it on test). So the first floor is the highest validation coverage
    among the plausible anchors: rows whose mean NDCG@10 is within ``ANCHOR_Z`` paired standard
    errors of the best's. Rows that cannot reach it fall back to the best row's coverage.
    """
    if not references:
        return []
    per_user = {
        spec.label: np.concatenate(
            [
                per_user_ndcg(build(spec, chosen.params, f.ages, dataset, split).fit(f.train), f)
                for f in folds
            ]
        )
        for spec, chosen in references
    }
    best_label = max(per_user, key=lambda label: per_user[label].mean())
    coverage = {spec.label: chosen.coverage for spec, chosen in references}
    plausible = []
    for label, values in per_user.items():
        gap = per_user[best_label] - values
        se = gap.std(ddof=1) / np.sqrt(gap.size) if gap.size > 1 else 0.0
        if label == best_label or gap.mean() <= ANCHOR_Z * se:
            plausible.append(label)
        print(
            f"    anchor? {label:<18} val NDCG@{K} {values.mean():.4f} cover "
            f"{coverage[label]:.4f}  gap {gap.mean():.4f} = {gap.mean() / max(se, 1e-12):.1f} se",
            flush=True,
        )
    floors = sorted({coverage[label] for label in plausible} | {coverage[best_label]})
    floors = [f for f in floors[::-1] if f >= coverage[best_label]]
    print(f"    coverage floors {[round(f, 4) for f in floors]} from {plausible}", flush=True)
    return floors


def print_table(dataset: str, split: str, prepared: Prepared, rows: list[Row]) -> None:
    matrices = prepared.matrices
    n_test = int((np.diff(matrices.test.indptr) > 0).sum())
    print(
        f"\n== {dataset} / {split} split: train {matrices.train.nnz:,} on "
        f"{matrices.train.shape[0]:,}×{matrices.train.shape[1]:,}, test {matrices.test.nnz:,} "
        f"for {n_test:,} users ({matrices.n_cold_dropped:,} cold test pairs dropped)"
    )
    header = (
        f"{'model':<20}{'NDCG@10':>9}{'Rec@10':>9}{'MAP@10':>9}{'cover':>8}{'fit s':>8}"
        f"{'fit cpu':>8}{'rt ms':>8}{'rt cpu':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rt = "n/a" if row.realtime_ms is None else f"{row.realtime_ms:.2f}"
        rt_cpu = "n/a" if row.realtime_cpu_ms is None else f"{row.realtime_cpu_ms:.2f}"
        m = row.metrics
        print(
            f"{row.label:<20}{m[f'ndcg@{K}']:>9.4f}{m[f'recall@{K}']:>9.4f}{m[f'map@{K}']:>9.4f}"
            f"{m['coverage']:>8.3f}{row.fit_seconds:>8.2f}{row.fit_cpu_seconds:>8.2f}{rt:>8}"
            f"{rt_cpu:>8}"
        )


def target_line(dataset: str, split: str, rows: list[Row]) -> str:
    reference = [r for r in rows if r.reference]
    ours = [r for r in rows if not r.reference]
    if not reference or not ours:
        return f"TARGET {dataset}/{split}: not judged (missing rows)"
    key = f"ndcg@{K}"
    best_ref = max(reference, key=lambda r: r.metrics[key])
    anchor_name, anchor = f"implicit row {best_ref.label}", best_ref.metrics[key]
    for name, value in ANCHORS.get((dataset, split), {}).items():
        if value > anchor:
            anchor_name, anchor = f"reference {name}", value
    # Our best row among those whose coverage is no lower than the best implicit row's (the
    # target asks for both); the best row outright when none is.
    covering = [r for r in ours if r.metrics["coverage"] >= best_ref.metrics["coverage"]]
    best = max(covering or ours, key=lambda r: r.metrics[key])
    need = TARGET_RATIO * anchor
    ok_ndcg = best.metrics[key] >= need
    ok_cover = best.metrics["coverage"] >= best_ref.metrics["coverage"]
    verdict = "MET" if ok_ndcg and ok_cover else "MISSED"
    return (
        f"TARGET {dataset}/{split}: {verdict} — best ours {best.label} NDCG@10 "
        f"{best.metrics[key]:.4f} vs {TARGET_RATIO}×{anchor:.4f} ({anchor_name}) = {need:.4f}; "
        f"coverage {best.metrics['coverage']:.3f} vs {best_ref.metrics['coverage']:.3f} "
        f"({best_ref.label}){uncertainty(best, best_ref)}"
    )


def uncertainty(ours: Row, anchor: Row) -> str:
    """How far chance alone moves the ratio of two rows' NDCG@10 on this split's shoppers: the
    paired bootstrap interval of ``ours / anchor`` (``anchor`` is the best ``implicit`` row)."""
    if ours.per_user_ndcg is None or anchor.per_user_ndcg is None:
        return ""
    ratio, low, high = paired_bootstrap_ratio(ours.per_user_ndcg, anchor.per_user_ndcg)
    return (
        f"; {ours.label}/{anchor.label} = {ratio:.2f}× (95 % paired bootstrap {low:.2f}–"
        f"{high:.2f}× over {ours.per_user_ndcg.size} shoppers)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    parser.add_argument("--models", nargs="+", help="row labels to run (default: all)")
    parser.add_argument("--tune", action="store_true", help="grid search on validation first")
    args = parser.parse_args(argv)
    register_algorithms()
    specs = [s for s in SPECS if available(s) and (not args.models or s.label in args.models)]
    skipped = [s.label for s in SPECS if not available(s)]
    if skipped:
        print(f"(not registered yet, skipped: {', '.join(skipped)})")
    tuned: dict[str, dict[str, dict[str, Any]]] = {}
    verdicts = []
    for dataset in args.datasets:
        data = LOADERS[dataset]()
        print(f"\n{data.describe()}")
        for split in args.splits:
            if args.tune:
                folds = make_validations(data, split)
                print(
                    f"  tuning {dataset}/{split} on {len(folds)} validation fold(s): "
                    f"{sum(f.test.nnz for f in folds):,} pairs, "
                    f"{sum(map(scored_users, folds)):,} shoppers"
                )
                # The references first: our rows must reach the coverage of the anchor.
                references: list[tuple[Spec, Tuned]] = []
                floors: list[float] | None = None
                for spec in sorted(specs, key=lambda s: not s.reference):
                    if spec.grid or spec.blend_of:
                        if not spec.reference and floors is None:
                            floors = coverage_floors(references, folds, dataset, split)
                        chosen = tune(spec, folds, dataset, split, floors or ())
                        if spec.reference:
                            references.append((spec, chosen))
                        params = chosen.params
                        TUNED.setdefault(dataset, {}).setdefault(split, {})[spec.label] = params
                        tuned.setdefault(dataset, {}).setdefault(split, {})[spec.label] = params
            prepared = make_split(data, split)
            rows = []
            for spec in specs:
                params = params_for(dataset, split, spec.label)
                rows.append(run_row(spec, params, prepared, dataset, split))
            print_table(dataset, split, prepared, rows)
            verdicts.append(target_line(dataset, split, rows))
            print(verdicts[-1], flush=True)
    print()
    for line in verdicts:
        print(line)
    if tuned:
        print("\nTUNED =", tuned)


if __name__ == "__main__":
    main()
