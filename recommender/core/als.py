"""Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with batched conjugate-gradient sweeps.

Each half-sweep solves, for every user u at once (then every item),

    (YtY + Yt(Cu − I)Y + λI) x_u = Yt Cu p(u),   Cu = diag(1 + alpha·r_u),  p(u) = 1[r_u > 0]

by a few conjugate-gradient steps warm-started from the previous factors (Takács, Pilászy &
Tikk 2011; the solver ``implicit`` uses). Instead of one C loop per user, the CG runs on a block
of users as dense/sparse array operations: the item factors of the block's interactions are
gathered once (``Yg``) and reused by every CG step. Blocks are spread over threads (numpy,
scipy.sparse and BLAS release the GIL); each thread gathers into scratch arrays it keeps for the
whole fit (``Scratch``), because fresh multi-megabyte arrays in two threads serialise on the
kernel's page faults.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommender.core.base import Recommender
from recommender.core.checks import check_finite, check_user_items
from recommender.core.factors import ItemFactorCosine, unit_rows
from recommender.core.kernels import (
    BLOCK_ROWS,
    FLOAT,
    request_time_blas,
    row_blocks,
)
from recommender.core.solvers import Scratch, implicit_cg_block

# Block of an ALS sweep, whose gathers reuse per-thread scratch: the gathered factors (4 MB at
# k=64) sit in L3. Timing the sweeps alone on bench.speed's 1M matrix with 2 threads, 16k/4096
# took 0.24–0.26 s per iteration against 0.29–0.33 s for 8k/2048 and 0.41–0.56 s for 4k/1024.
# Fewer, larger blocks also mean fewer Python-level calls competing for the GIL.
SWEEP_BLOCK_NNZ = 16_384
SWEEP_BLOCK_ROWS = 4_096
# Interactions per fold-in block: the stacked outer products take BLOCK·k² floats (16 MB at k=64).
FOLD_IN_NNZ = 1_024


class ALS(ItemFactorCosine, Recommender):
    """Weighted matrix factorisation for implicit feedback, trained by alternating CG sweeps.

    Parameters
    ----------
    factors : int
        Latent dimension k.
    regularization : float
        λ in the loss Σ c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²).
    alpha : float
        Confidence slope: c_ui = 1 + alpha · r_ui (Hu et al. use 40 on raw counts; our event
        weights are already scaled, so the default is lower).
    iterations : int
        Full sweeps (users then items).
    cg_steps : int
        Conjugate-gradient steps per half-sweep; 3 is ``implicit``'s default and converges
        well because each sweep starts from the previous solution.
    num_threads : int
        Worker threads for the sweeps; 0 means every core.
    random_state : int or None
        Seed for the initial factors.
    """

    name: ClassVar[str] = "als"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("user_factors", "item_factors")
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {
        "user_factors": ("n_users", "factors"),
        "item_factors": ("n_items", "factors"),
    }

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.1,
        alpha: float = 10.0,
        iterations: int = 15,
        cg_steps: int = 3,
        num_threads: int = 0,
        random_state: int | None = 42,
    ) -> None:
        if factors < 1:
            raise ValueError(f"factors must be >= 1, got {factors}")
        if not (np.isfinite(regularization) and regularization >= 0):
            raise ValueError(f"regularization must be finite and >= 0, got {regularization}")
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be finite and >= 0, got {alpha}")
        if iterations < 1 or cg_steps < 1:
            raise ValueError("iterations and cg_steps must be >= 1")
        self.factors = int(factors)
        self.regularization = float(regularization)
        self.alpha = float(alpha)
        self.iterations = int(iterations)
        self.cg_steps = int(cg_steps)
        self.num_threads = int(num_threads)
        self.random_state = random_state
        self.user_factors = np.zeros((0, self.factors), dtype=FLOAT)
        self.item_factors = np.zeros((0, self.factors), dtype=FLOAT)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "cg_steps": self.cg_steps,
            "num_threads": self.num_threads,
            "random_state": self.random_state,
        }

    # -- training -------------------------------------------------------------
    def fit(
        self,
        user_items: sp.csr_matrix,
        *,
        callback: Callable[[int, ALS], None] | None = None,
    ) -> ALS:
        """Learn user and item factors.

        Parameters
        ----------
        user_items : csr_matrix, shape (n_users, n_items)
            Non-negative interaction weights r_ui (0 = no interaction).
        callback : callable, optional
            Called as ``callback(iteration, model)`` after each full sweep (progress, loss).

        Returns
        -------
        self

        Raises
        ------
        FitError
            When the factors become NaN or infinite (e.g. confidences overflow float32).
        """
        Cui = check_user_items(user_items)
        if Cui.nnz and not Cui.data.all():
            # eliminate_zeros compacts the arrays in place, and they may be the caller's.
            Cui = Cui.copy()
            Cui.eliminate_zeros()
        self.n_users, self.n_items = Cui.shape
        Ciu = Cui.T.tocsr()
        rng = np.random.default_rng(self.random_state)
        # Small uniform start, as in implicit: the first user half-sweep overwrites the scale.
        self.user_factors = rng.random((self.n_users, self.factors), dtype=FLOAT) * FLOAT(0.01)
        self.item_factors = rng.random((self.n_items, self.factors), dtype=FLOAT) * FLOAT(0.01)
        user_blocks = row_blocks(Cui.indptr, SWEEP_BLOCK_NNZ, SWEEP_BLOCK_ROWS)
        item_blocks = row_blocks(Ciu.indptr, SWEEP_BLOCK_NNZ, SWEEP_BLOCK_ROWS)
        threads = self.num_threads or os.cpu_count() or 1
        scratch = Scratch(self.factors, SWEEP_BLOCK_NNZ)
        # One BLAS thread per worker: the parallelism is across blocks, not inside a 64×64 gemm.
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
            for iteration in range(self.iterations):
                self._sweep(Cui, self.user_factors, self.item_factors, user_blocks, pool, scratch)
                self._sweep(Ciu, self.item_factors, self.user_factors, item_blocks, pool, scratch)
                check_finite("ALS user factors", self.user_factors)
                check_finite("ALS item factors", self.item_factors)
                if callback is not None:
                    callback(iteration, self)
        self._after_load()
        return self

    def _sweep(
        self,
        Cui: sp.csr_matrix,
        X: np.ndarray,
        Y: np.ndarray,
        blocks: np.ndarray,
        pool: ThreadPoolExecutor,
        scratch: Scratch,
    ) -> None:
        """Update every row of X in place given fixed Y (one half-sweep)."""
        # YtY + λI is shared by every row: one k×k gemm per half-sweep.
        YtY_reg = (Y.T @ Y).astype(FLOAT)
        YtY_reg[np.diag_indices_from(YtY_reg)] += FLOAT(self.regularization)
        confidence = FLOAT(self.alpha) * Cui.data
        spans = list(zip(blocks[:-1].tolist(), blocks[1:].tolist(), strict=True))

        def solve(span: tuple[int, int]) -> None:
            implicit_cg_block(
                X, Y, YtY_reg, Cui.indptr, Cui.indices, confidence, *span, self.cg_steps, scratch
            )

        for _ in pool.map(solve, spans):
            pass

    def loss(self, user_items: sp.csr_matrix) -> float:
        """Training objective Σ_ui c_ui (p_ui − x_u·y_i)² + λ(‖X‖² + ‖Y‖²), per interaction.

        Parameters
        ----------
        user_items : csr_matrix, shape (n_users, n_items)

        Returns
        -------
        float
            The loss divided by the number of stored interactions.
        """
        self._require_fitted()
        Cui = check_user_items(user_items, n_items=self.n_items)
        X = np.asarray(self.user_factors, dtype=np.float64)
        Y = np.asarray(self.item_factors, dtype=np.float64)
        # Σ over all (u, i) of (x_u·y_i)² = trace(XtX YtY); observed cells then swap their
        # weight-1, target-0 term s² for c(1 − s)².
        dense_part = float(np.sum((X.T @ X) * (Y.T @ Y)))
        rows = np.repeat(np.arange(Cui.shape[0]), np.diff(Cui.indptr))
        s = np.einsum("ij,ij->i", X[rows], Y[Cui.indices])
        c = 1.0 + self.alpha * Cui.data.astype(np.float64)
        observed = float(np.sum(c * (1.0 - s) ** 2 - s**2))
        penalty = self.regularization * float(np.sum(X**2) + np.sum(Y**2))
        return (dense_part + observed + penalty) / max(Cui.nnz, 1)

    def _after_load(self) -> None:
        Y = np.asarray(self.item_factors)
        # YtY + λI is the shared part of every fold-in's Gram matrix.
        YtY_reg = Y.T.astype(np.float64) @ Y.astype(np.float64)
        YtY_reg[np.diag_indices_from(YtY_reg)] += self.regularization
        self.YtY_reg = YtY_reg.astype(FLOAT)
        self.normalized_item_factors = unit_rows(Y)

    # -- scoring --------------------------------------------------------------
    def fold_in(self, rows: sp.csr_matrix) -> np.ndarray:
        """Closed-form user vectors for interaction rows, against the fixed item factors.

        x_u = (YtY + Yt(Cu − I)Y + λI)^{-1} Yt Cu p(u): one k×k solve per row, batched.

        Parameters
        ----------
        rows : csr_matrix, shape (n_rows, n_items)

        Returns
        -------
        X : float32 array, shape (n_rows, factors)
        """
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        Y = np.asarray(self.item_factors)
        k = self.factors
        if rows.shape[0] == 1:
            # The request-time case: plain BLAS on the shopper's items, no block bookkeeping.
            return self._fold_in_one(rows.indices, rows.data)[None, :]
        X = np.zeros((rows.shape[0], k), dtype=FLOAT)
        for lo, hi in zip(*_pairs(row_blocks(rows.indptr, FOLD_IN_NNZ, BLOCK_ROWS)), strict=True):
            a, b = rows.indptr[lo], rows.indptr[hi]
            local_ptr = (rows.indptr[lo : hi + 1] - a).astype(np.int64)
            Yg = Y.take(rows.indices[a:b], axis=0)
            Cm1 = FLOAT(self.alpha) * rows.data[a:b]
            segment = sp.csr_matrix(
                (np.ones(b - a, dtype=FLOAT), np.arange(b - a), local_ptr), shape=(hi - lo, b - a)
            )
            # A_u = YtY + λI + Σ_{i∈I_u} (c_ui − 1) y_i y_iᵀ   (stacked, one k×k per row)
            outer = (Yg * Cm1[:, None])[:, :, None] * Yg[:, None, :]
            A = (segment @ outer.reshape(b - a, k * k)).reshape(hi - lo, k, k) + self.YtY_reg
            # b_u = Yt Cu p(u) = Σ_{i∈I_u} c_ui y_i
            rhs = segment @ (Yg * (1 + Cm1)[:, None])
            X[lo:hi] = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
        return X

    def _fold_in_one(self, item_ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """x_u of shape (factors,) for one shopper's distinct items and their weights."""
        Yu = np.asarray(self.item_factors).take(item_ids, axis=0)
        # A = YtY + λI + Yuᵀ (Cu − I) Yu,   b = Yuᵀ Cu p(u)
        Cm1 = FLOAT(self.alpha) * np.asarray(weights, dtype=FLOAT)
        A = self.YtY_reg + Yu.T @ (Cm1[:, None] * Yu)
        return np.linalg.solve(A, Yu.T @ (1 + Cm1)).astype(FLOAT, copy=False)

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """x_u·y_i for one shopper, shape (n_items,): a k×k fold-in solve and one gemv."""
        self._require_fitted()
        item_ids, weights = self.request_pairs(item_ids, weights)
        with request_time_blas(1):
            return np.asarray(self.item_factors) @ self._fold_in_one(item_ids, weights)

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores x_u·y_i, shape (n_rows, n_items), from freshly folded-in user vectors."""
        with request_time_blas(rows.shape[0]):
            return self.fold_in(rows) @ np.asarray(self.item_factors).T

    def score_users(self, user_ids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Scores of shape (len(user_ids), n_items): stored factors for users seen at fit time,
        a fold-in of their row for users added since (ids >= n_users)."""
        self._require_fitted()
        user_ids = np.asarray(user_ids, dtype=np.int64)
        X = np.empty((user_ids.size, self.factors), dtype=FLOAT)
        known = user_ids < self.n_users
        X[known] = np.asarray(self.user_factors)[user_ids[known]]
        with request_time_blas(user_ids.size):
            if not known.all():
                X[~known] = self.fold_in(user_items[user_ids[~known]])
            return X @ np.asarray(self.item_factors).T

    def _explain(
        self, item_id: int, item_ids: np.ndarray, weights: np.ndarray | None
    ) -> tuple[int, float]:
        """The shopper's item contributing most to ``item_id``'s fold-in score, and its share.

        The fold-in score decomposes exactly over the shopper's items (Hu et al. 2008, §5):
        score = y_tᵀ W_u Σ_j c_uj y_j with W_u = (YtY + Yt(Cu − I)Y + λI)^{-1}, so item j
        contributes c_uj · (W_u y_t)·y_j; W_u y_t comes from a Cholesky solve, as in implicit.

        Returns
        -------
        (item, share) : the top contributor and its share of Σ|contributions|, or (-1, 0.0)
            when no item contributes positively.
        """
        row = self.items_to_row(item_ids, weights)
        if row.nnz == 0:
            return -1, 0.0
        Yu = np.asarray(self.item_factors, dtype=np.float64)[row.indices]
        Cm1 = self.alpha * row.data.astype(np.float64)
        # W_u^{-1} = YtY + λI + Σ_j (c_uj − 1) y_j y_jᵀ
        A = self.YtY_reg.astype(np.float64) + Yu.T @ (Cm1[:, None] * Yu)
        weighted_target = scipy.linalg.cho_solve(
            scipy.linalg.cho_factor(A), np.asarray(self.item_factors[item_id], np.float64)
        )
        contributions = (1.0 + Cm1) * (Yu @ weighted_target)
        best = int(np.argmax(contributions))
        total = float(np.abs(contributions).sum())
        if contributions[best] <= 0 or total == 0:
            return -1, 0.0
        return int(row.indices[best]), float(contributions[best] / total)

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> ALS:
        """A fitted instance on a tiny matrix, for the shared protocol test."""
        # Stable on the 10×8 contract matrix for seeds 0, 1 and 42 (λ 0.3–3, alpha 5–10).
        return cls(factors=8, regularization=1.0, alpha=10.0, iterations=15, num_threads=1).fit(
            user_items
        )


def _pairs(bounds: np.ndarray) -> tuple[list[int], list[int]]:
    return bounds[:-1].tolist(), bounds[1:].tolist()
