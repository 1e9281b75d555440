"""EASE: embarrassingly shallow autoencoder (Steck 2019), an item-item model in closed form.

    P = (XᵀX + λI)^{-1},   B = I − P·diagMat(1/diag(P)),   i.e. B_ij = −P_ij / P_jj, B_ii = 0

Scores are x_u·B, so a shopper unseen at training is scored from their latest events with one
sparse-dense product. B is dense n_items × n_items: memory grows with the square of the
catalogue, hence ``max_items``.
"""

from __future__ import annotations

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
        Refuse (``ValueError``) to fit more items than this: fitting holds XᵀX in float64 and
        inverts it in place by Cholesky (8·n² bytes, 3.2 GB at 20k items; by 2×2 blocks past
        ``LAPACK_MAX_ITEMS``, with 4·n² of temporaries), then keeps B in float32 (4·n²).
    random_state : int or None
        Unused (the fit is deterministic); kept for the common constructor shape.

    Notes
    -----
    The Gram matrix is formed and inverted in float64: with small λ, XᵀX + λI can have a
    condition number near 1e6 for power-law catalogues, where float32 would leave errors of
    order 10% in P. B is then stored in float32 like every other learned array.
    """

    name: ClassVar[str] = "ease"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("item_weights",)
    artifact_shapes: ClassVar[dict[str, tuple[str | None, ...]]] = {
        "item_weights": ("n_items", "n_items")
    }

    def __init__(
        self,
        regularization: float = 500.0,
        max_items: int = 20_000,
        random_state: int | None = None,
    ) -> None:
        if not (np.isfinite(regularization) and regularization >= 0):
            raise ValueError(f"regularization must be finite and >= 0, got {regularization}")
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.regularization = float(regularization)
        self.max_items = int(max_items)
        self.random_state = random_state
        self.item_weights = np.zeros((0, 0), dtype=FLOAT)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "regularization": self.regularization,
            "max_items": self.max_items,
            "random_state": self.random_state,
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
            raise ValueError(
                f"EASE holds a dense {n_items}×{n_items} matrix (~{12 * n_items**2 / 1e9:.1f} GB "
                f"while fitting); that is above max_items={self.max_items}. Use item-kNN or ALS, "
                "or restrict the catalogue"
            )
        # G = XᵀX + λI, dense float64
        X64 = X.astype(np.float64)
        G = (X64.T @ X64).toarray()
        G[np.diag_indices(n_items)] += self.regularization
        P = _spd_inverse(G)
        # B = I − P·diagMat(1/diag(P)):  B_ij = −P_ij / P_jj off the diagonal, B_ii = 0
        P /= -np.diag(P)[None, :]
        P[np.diag_indices(n_items)] = 0.0
        B = np.ascontiguousarray(P, dtype=FLOAT)
        del G, P
        check_finite("EASE item weights", B)
        self.item_weights = B
        self.n_users, self.n_items = n_users, n_items
        return self

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores x_u·B, shape (n_rows, n_items), straight from interaction rows."""
        self._require_fitted()
        rows = check_user_items(rows, n_items=self.n_items)
        return np.asarray(rows @ self.item_weights, dtype=FLOAT)

    def score_items(self, item_ids: Any, weights: Any = None) -> np.ndarray:
        """x_u·B for one shopper, shape (n_items,): a weighted sum of the rows of B they touched."""
        self._require_fitted()
        item_ids, weights = self.request_pairs(item_ids, weights)
        if item_ids.size == 0:
            return np.zeros(self.n_items, dtype=FLOAT)
        return np.asarray(weights @ self.item_weights[item_ids], dtype=FLOAT)

    def item_similarity(self, item_id: int, other_ids: np.ndarray) -> np.ndarray:
        """B[j, item_id] for each j in ``other_ids``: how much j predicts ``item_id``, so
        ``explain`` picks argmax_j w_j·B[j, target]."""
        self._require_fitted()
        other_ids = check_ids(other_ids, upper=self.n_items, name="other_ids")
        item_id = check_item_id(item_id, upper=self.n_items)
        return np.asarray(self.item_weights[other_ids, item_id], dtype=FLOAT)

    def _similarity_block(self, item_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
        """B[item_ids][:, target_ids] in one gather."""
        return self.item_weights[np.ix_(item_ids, target_ids)]

    def similar_items(self, item_ids: Any, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items j by B[i, j]: what a shopper who touched only i is shown next.

        Returns
        -------
        ids, scores : arrays of shape (len(item_ids), n)
        """
        self._require_fitted()
        item_ids = check_ids(item_ids, upper=self.n_items, name="item_ids")
        scores = np.asarray(self.item_weights[item_ids], dtype=FLOAT)
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
