"""EASE: embarrassingly shallow autoencoder (Steck 2019), an item-item model in closed form.

    P = (XᵀX + λI)^{-1},   B = I − P·diagMat(1/diag(P)),   i.e. B_ij = −P_ij / P_jj, B_ii = 0

Scores are x_u·B, so a shopper unseen at training is scored from their latest events with one
sparse-dense product. B is dense n_items × n_items: memory grows with the square of the
catalogue, hence ``max_items``.

Past ``dense_items`` (a catalogue whose Gram matrix LAPACK should not invert whole), only the
``dense_items`` most-supported items are inputs: B keeps their rows alone, each column the same
ridge regression restricted to them (``_head_weights``). Below the limit it is EASE exactly.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse as sp

from recommender.core.base import Recommender
from recommender.core.checks import (
    FitError,
    check_finite,
    check_ids,
    check_item_id,
    check_user_items,
)
from recommender.core.kernels import FLOAT, item_rows
from recommender.core.ranking import top_k


class EASE(Recommender):
    """Closed-form item-item regression with a zero diagonal.

    Parameters
    ----------
    regularization : float
        λ on the diagonal of XᵀX. Steck reports best values of a few hundred on binary
        MovieLens-20M / Netflix / MSD data (λ≈200–1000); 500 is the middle of that range. Raise
        it for denser or weighted matrices (the Gram diagonal grows with the weights).
    max_items : int
        Refuse (``ValueError``) to fit more items than this. B is float32 of shape
        (min(n, dense_items), n): 4·n² bytes up to ``dense_items``, 2 GB at 60k items past it.
    dense_items : int
        Up to this many items the Gram matrix is inverted whole, in float64 by Cholesky (8·n²
        bytes; by 2×2 blocks past ``LAPACK_MAX_ITEMS``, 478 s at 16k items). Past it only the
        ``dense_items`` items most shoppers touched are inputs (rows of B); every item stays a
        target. On Online Retail a head of 2,048 of 3,635 items (94 % of the cells) scored
        0.983× full EASE's NDCG@10 [0.942, 1.011] (bench/README.md, "Large catalogues").
    random_state : int or None
        Unused (the fit is deterministic); kept for the common constructor shape.
    num_threads : int
        Threads for the products past the head (blocks of targets; LAPACK and BLAS keep their
        own thread settings).

    Notes
    -----
    The Gram matrix is formed and inverted in float64: with small λ, XᵀX + λI can have a
    condition number near 1e6 for power-law catalogues, where float32 would leave errors of
    order 10% in P. B is then stored in float32 like every other learned array.
    """

    name: ClassVar[str] = "ease"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("item_weights", "input_items")
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {
        "item_weights": (None, "n_items"),
        "input_items": (None,),
    }

    def __init__(
        self,
        regularization: float = 500.0,
        max_items: int = 60_000,
        dense_items: int = 8_192,
        random_state: int | None = None,
        num_threads: int = 2,
    ) -> None:
        if not (np.isfinite(regularization) and regularization >= 0):
            raise ValueError(f"regularization must be finite and >= 0, got {regularization}")
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        if dense_items < 1:
            raise ValueError(f"dense_items must be >= 1, got {dense_items}")
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.regularization = float(regularization)
        self.max_items = int(max_items)
        self.dense_items = int(dense_items)
        self.random_state = random_state
        self.num_threads = int(num_threads)
        self.item_weights = np.zeros((0, 0), dtype=FLOAT)
        self.input_items = np.zeros(0, dtype=np.int64)
        self._input_row = np.zeros(0, dtype=np.int64)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "regularization": self.regularization,
            "max_items": self.max_items,
            "dense_items": self.dense_items,
            "random_state": self.random_state,
            "num_threads": self.num_threads,
        }

    def fit(self, user_items: sp.csr_matrix) -> EASE:
        """Solve for the item-item weights B.

        Parameters
        ----------
        user_items : csr_matrix, shape (n_users, n_items)
            Interaction weights (binary is the paper's setting).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            When the catalogue has more than ``max_items`` items.
        FitError
            When XᵀX + λI is singular (λ = 0 with an item nobody touched) or B is not finite.
        """
        X = check_user_items(user_items)
        n_users, n_items = X.shape
        if n_items > self.max_items:
            n_rows = min(n_items, self.dense_items)
            raise ValueError(
                f"EASE holds a dense {n_rows}×{n_items} matrix (~{4 * n_rows * n_items / 1e9:.1f}"
                f" GB); that is above max_items={self.max_items}. Use item-kNN or ALS, "
                "or restrict the catalogue"
            )
        X64 = X.astype(np.float64)
        if n_items <= self.dense_items:
            B, inputs = self._full_weights(X64), np.arange(n_items)
        else:
            # The items most shoppers touched: the head of a power-law catalogue holds nearly
            # every interaction (the demo's 8,192 of 19,256 products hold 93 % of the cells).
            support = np.diff(X64.tocsc().indptr)
            inputs = np.sort(np.argsort(-support, kind="stable")[: self.dense_items])
            B = _head_weights(X64, inputs, self.regularization, threads=self.num_threads)
        check_finite("EASE item weights", B)
        self.item_weights, self.input_items = B, inputs.astype(np.int64)
        self.n_users, self.n_items = n_users, n_items
        self._after_load()
        return self

    def _full_weights(self, X64: sp.csr_matrix) -> np.ndarray:
        """B over every item, (n_items, n_items) float32: the paper's closed form."""
        n_items = X64.shape[1]
        # G = XᵀX + λI, dense float64
        G = (X64.T @ X64).toarray()
        G[np.diag_indices(n_items)] += self.regularization
        P = _spd_inverse(G)
        # B = I − P·diagMat(1/diag(P)):  B_ij = −P_ij / P_jj off the diagonal, B_ii = 0
        P /= -np.diag(P)[None, :]
        P[np.diag_indices(n_items)] = 0.0
        return np.ascontiguousarray(P, dtype=FLOAT)

    def _after_load(self) -> None:
        # Where each item's row of B is (-1: not an input, its events do not vote).
        self._input_row = np.full(self.n_items, -1, dtype=np.int64)
        self._input_row[self.input_items] = np.arange(self.input_items.size)

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], arrays: dict[str, Any]) -> EASE:
        if "input_items" not in arrays and "item_weights" in arrays:
            # Saved before inputs could be a subset: every item has its row.
            arrays = {**arrays, "input_items": np.arange(np.shape(arrays["item_weights"])[0])}
        return super()._from_meta(meta, arrays)

    def _input_rows(self, item_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``item_ids`` that are inputs, their rows of B)."""
        rows = self._input_row[item_ids]
        known = np.flatnonzero(rows >= 0)
        return known, rows[known]

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores x_u·B, shape (n_rows, n_items), straight from interaction rows."""
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        if self.input_items.size < self.n_items:
            rows = rows[:, self.input_items]
        return np.asarray(rows @ self.item_weights, dtype=FLOAT)

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """x_u·B for one shopper, shape (n_items,): a weighted sum of the rows of B they touched."""
        self._require_fitted()
        item_ids, weights = self.request_pairs(item_ids, weights)
        known, rows = self._input_rows(item_ids)
        if known.size == 0:
            return np.zeros(self.n_items, dtype=FLOAT)
        return np.asarray(weights[known] @ self.item_weights[rows], dtype=FLOAT)

    def item_similarity(self, item_id: int, other_ids: np.ndarray) -> np.ndarray:
        """B[j, item_id] for each j in ``other_ids``: how much j predicts ``item_id``, so
        ``explain`` picks argmax_j w_j·B[j, target]."""
        self._require_fitted()
        other_ids = check_ids(other_ids, upper=self.n_items, name="other_ids")
        item_id = check_item_id(item_id, upper=self.n_items)
        return self._similarity_block(other_ids, np.asarray([item_id])).ravel()

    def _similarity_block(self, item_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
        """B[item_ids][:, target_ids] in one gather (0 for an item that is no input)."""
        block = np.zeros((item_ids.size, np.size(target_ids)), dtype=FLOAT)
        known, rows = self._input_rows(item_ids)
        block[known] = self.item_weights[np.ix_(rows, target_ids)]
        return block

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items j by B[i, j]: what a shopper who touched only i is shown next.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n)
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        scores = np.zeros((item_ids.size, self.n_items), dtype=FLOAT)
        known, rows = self._input_rows(item_ids)
        scores[known] = self.item_weights[rows]
        # An item past the input head has no row: the inputs that predict it stand in.
        tail = np.setdiff1d(np.arange(item_ids.size), known)
        scores[np.ix_(tail, self.input_items)] = self.item_weights[:, item_ids[tail]].T
        itself = item_rows(item_ids, self.n_items)
        return top_k(scores, n, exclude=itself)

    @classmethod
    def for_contract_test(cls, user_items: sp.csr_matrix, **fixtures: Any) -> EASE:
        """A fitted instance on a tiny matrix; λ is scaled down to the matrix's few users."""
        return cls(regularization=1.0).fit(user_items)


# Rows per block when mirroring the upper triangle: bounds the temporary to 2048·n floats.
_MIRROR_ROWS = 2_048
# Largest matrix handed to LAPACK at once. OpenBLAS's threaded SYRK, inside potrf and potri,
# packs each thread's whole column range into a fixed work buffer without splitting it (its
# GEMM does split): with 2 threads one range is 0.71·n columns, and past about 15,000 items it
# wrote beyond the buffer and killed the process with SIGSEGV (issue 14; 12,000 passed, 16,000
# crashed, 1 thread never did). Larger matrices are inverted by blocks (``_block_inverse``).
LAPACK_MAX_ITEMS = 8_192


# Target columns per block of ``_head_weights``: bounds its dense temporary to 2048·dense_items.
_TARGET_COLUMNS = 2_048


def _head_weights(
    X64: sp.csr_matrix, inputs: np.ndarray, regularization: float, *, threads: int = 1
) -> np.ndarray:
    """B restricted to rows ``inputs``, shape (len(inputs), n_items) float32.

    EASE's column j solves min ‖x_j − X b‖² + λ‖b‖² with b_j = 0. With only the head H as
    inputs: b = P G_Hj for j outside H (a plain ridge regression, j is no input), where
    P = (X_HᵀX_H + λI)^{-1}, and for j in H EASE's closed form on H, −P_ij / P_jj. The head's
    Gram matrix is small enough for LAPACK; the rest is one sparse-dense product per block,
    ``threads`` blocks at a time.
    """
    n_items = X64.shape[1]
    X_head = sp.csc_matrix(X64[:, inputs])
    G = (X_head.T @ X_head).toarray()
    G[np.diag_indices(inputs.size)] += regularization
    # Inverted in float64 (see the class notes), then used in float32 like B itself: the tail's
    # products, most of a large catalogue's fit, read half the memory and take half the time
    # (at 57k items, 8,192 inputs: 7.0 s a block of 2,048 targets in float64, 2.4 s in float32).
    P = _spd_inverse(G).astype(FLOAT)
    del G
    B = np.empty((inputs.size, n_items), dtype=FLOAT)
    targets = np.setdiff1d(np.arange(n_items), inputs)
    X_head32 = X_head.astype(FLOAT)
    X_targets = sp.csc_matrix(X64[:, targets], dtype=FLOAT)

    def fill(start: int) -> None:
        block = targets[start : start + _TARGET_COLUMNS]
        # G_jH = x_jᵀ X_H is sparse (a tail item meets few head items), so (G_jH P)ᵀ = P G_Hj
        # costs nnz × |H| instead of a dense |H|² × block GEMM.
        G_block = sp.csr_matrix(X_targets[:, start : start + block.size].T @ X_head32)
        B[:, block] = (G_block @ P).T

    # scipy's sparse products release the GIL: blocks write disjoint columns of B.
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(fill, range(0, targets.size, _TARGET_COLUMNS)))
    # Head columns, once P is no longer needed as it is (scaled in place, no n² temporary):
    # B_ij = −P_ij / P_jj, B_jj = 0
    P /= -np.diag(P)[None, :]
    B[:, inputs] = P
    B[np.arange(inputs.size), inputs] = 0.0
    return B


def _spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite float64 matrix, in G's own buffer.

    Up to ``LAPACK_MAX_ITEMS`` by LAPACK directly (``_lapack_spd_inverse``), above it by 2×2
    blocks whose diagonal blocks are inverted the same way.
    """
    if G.shape[0] <= LAPACK_MAX_ITEMS:
        return _lapack_spd_inverse(G)
    return _block_inverse(G)


def _block_inverse(G: np.ndarray) -> np.ndarray:
    """G⁻¹ by the Schur complement, in place; temporaries of about n²/2 floats.

    G = [[A, B], [Bᵀ, C]],  W = A⁻¹B,  S = C − BᵀW (symmetric positive definite, like G):
    G⁻¹ = [[A⁻¹ + W·S⁻¹·Wᵀ, −W·S⁻¹], [−S⁻¹·Wᵀ, S⁻¹]]. Products go through GEMM, which splits
    its work into bounded blocks, never through SYRK.
    """
    n = G.shape[0]
    k = n // 2
    G[:k, :k] = _spd_inverse(np.array(G[:k, :k], order="F"))
    W = G[:k, :k] @ G[:k, k:]
    for start in range(k, n, _MIRROR_ROWS):  # C −= BᵀW, a row block at a time
        stop = min(start + _MIRROR_ROWS, n)
        G[start:stop, k:] -= G[:k, start:stop].T @ W
    G[k:, k:] = _spd_inverse(np.array(G[k:, k:], order="F"))
    V = W @ G[k:, k:]  # W·S⁻¹
    for start in range(0, k, _MIRROR_ROWS):  # A⁻¹ += W·S⁻¹·Wᵀ
        stop = min(start + _MIRROR_ROWS, k)
        G[start:stop, :k] += V[start:stop] @ W.T
    del W
    G[:k, k:] = V
    G[:k, k:] *= -1.0
    G[k:, :k] = G[:k, k:].T
    return G


def _lapack_spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite float64 matrix, computed in G's own buffer
    (C- or Fortran-ordered; any other layout is copied once).

    Cholesky (potrf) then inverse from the factor (potri): half the flops of an LU inverse, and
    a matrix that is not positive definite (λ = 0 with an untouched item) is detected by LAPACK.
    """
    # G is symmetric, so G and Gᵀ are the same matrix: hand LAPACK whichever is in Fortran order.
    # Passing a C-ordered view made f2py copy all n² floats (XᵀX comes back CSC, so its dense
    # form is Fortran-ordered): 6.4 GB instead of 3.2 GB at 20k items.
    fortran = G if G.flags.f_contiguous else G.T
    factor, info = scipy.linalg.lapack.dpotrf(fortran, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise FitError(
            f"XᵀX + λI is not positive definite (LAPACK potrf info={info}); raise regularization"
        )
    P, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise FitError(f"XᵀX + λI could not be inverted (LAPACK potri info={info})")
    # potri fills the upper triangle only; mirror it block by block.
    n = P.shape[0]
    for start in range(0, n, _MIRROR_ROWS):
        stop = min(start + _MIRROR_ROWS, n)
        P[start:stop, :start] = P[:start, start:stop].T
        block = P[start:stop, start:stop]
        block[...] = np.triu(block) + np.triu(block, 1).T
    return P
