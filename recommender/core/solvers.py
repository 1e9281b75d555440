"""The per-row linear solvers of the factor models, run on blocks of rows as array operations.

``implicit_cg_block``: conjugate-gradient steps on ALS's implicit-feedback systems;
``ridge_cg_block``: the same on SVD's rating ridges; ``ridge_rows``: SVD's exact ridge for
fold-in. Each CG step costs O(nnz·k) instead of O(nnz·k²) for forming every Gram matrix.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from recommender.core.checks import FitError
from recommender.core.kernels import FLOAT, rowdot, safe_divide

# Padded (rows × longest row) cells per exact fold-in block: the gathered features stay ~8 MB.
BLOCK_CELLS = 65_536


class Scratch:
    """Per-thread (block nnz × k) float32 arrays reused by every block of a fit.

    Allocating them per block made two threads slower than one: every fresh multi-megabyte array
    is new pages, and the page faults of both threads queue on the process's memory-map lock
    (gathering 8k×64 floats into a new array ran at 0.1× speed on 2 threads, into a kept one at
    1.9×). ``min_rows`` is the smallest allocation (the sweep's block nnz), so few blocks regrow.
    """

    def __init__(self, factors: int, min_rows: int) -> None:
        self.factors = factors
        self.min_rows = min_rows
        self._local = threading.local()

    def arrays(self, nnz: int) -> tuple[np.ndarray, np.ndarray]:
        """Two C-contiguous (nnz, factors) views owned by the calling thread."""
        held = getattr(self._local, "arrays", None)
        if held is None or held[0].shape[0] < nnz:
            rows = max(nnz, self.min_rows)
            held = tuple(np.empty((rows, self.factors), dtype=FLOAT) for _ in range(2))
            self._local.arrays = held
        return held[0][:nnz], held[1][:nnz]


def implicit_cg_block(
    X: np.ndarray,
    Y: np.ndarray,
    YtY_reg: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    confidence: np.ndarray,
    lo: int,
    hi: int,
    cg_steps: int,
    scratch: Scratch,
) -> None:
    """Conjugate-gradient update of rows ``lo:hi`` of X in place (all rows at once).

    ``confidence`` holds c_ui − 1 = alpha·r_ui for each stored value of the CSR matrix.
    """
    a, b = int(indptr[lo]), int(indptr[hi])
    local_ptr = indptr[lo : hi + 1] - a
    # Yg[j]: the other side's factors for stored value j; spread[j]: its row's current vector.
    Yg, spread = scratch.arrays(b - a)
    # mode="clip": with ``out``, the default "raise" gathers into a temporary and copies it over.
    np.take(Y, indices[a:b], axis=0, out=Yg, mode="clip")
    owner = np.repeat(np.arange(hi - lo), np.diff(local_ptr))
    Cm1 = confidence[a:b]
    # segment @ M sums the rows of M belonging to each row of the block, weighted by its data.
    segment = sp.csr_matrix((Cm1, np.arange(b - a), local_ptr), shape=(hi - lo, b - a))

    def add_weighted_sums(weights: np.ndarray, out: np.ndarray) -> None:
        segment.data = weights
        out += segment @ Yg

    def per_value_dots(vectors: np.ndarray) -> np.ndarray:
        np.take(vectors, owner, axis=0, out=spread, mode="clip")
        return rowdot(Yg, spread)

    x = X[lo:hi].copy()
    # r = Yt Cu p(u) − (YtY + λI) x − Yt (Cu − I) Y x = Σ_i (c_ui − (c_ui − 1) y_i·x) y_i − ...
    r = np.negative(x @ YtY_reg)
    add_weighted_sums(1 + Cm1 - Cm1 * per_value_dots(x), r)
    p = r.copy()
    Ap = np.empty_like(p)
    rs_old = rowdot(r, r)
    for _ in range(cg_steps):
        # Ap = (YtY + λI) p + Yt (Cu − I) Y p
        np.matmul(p, YtY_reg, out=Ap)
        add_weighted_sums(Cm1 * per_value_dots(p), Ap)
        step = safe_divide(rs_old, rowdot(p, Ap))
        x += step[:, None] * p
        r -= step[:, None] * Ap
        rs_new = rowdot(r, r)
        p *= safe_divide(rs_new, rs_old)[:, None]
        p += r
        rs_old = rs_new
    X[lo:hi] = x


def ridge_cg_block(
    X: np.ndarray,
    F: np.ndarray,
    R: sp.csr_matrix,
    targets: np.ndarray,
    lam: np.ndarray,
    lo: int,
    hi: int,
    cg_steps: int,
) -> None:
    """Conjugate-gradient steps on the ridge systems of rows ``lo:hi`` of X, in place.

    Each row u solves (F_uᵀF_u + n_u·diag(λ)) x_u = F_uᵀ t_u, warm-started from X[u].
    """
    a, b = int(R.indptr[lo]), int(R.indptr[hi])
    local_ptr = (R.indptr[lo : hi + 1] - a).astype(np.int64)
    counts = np.diff(local_ptr)
    Fg = F.take(R.indices[a:b], axis=0)
    # Λ_u = max(n_u, 1)·diag(λ): ALS-WR's count-weighted penalty, as an (n_rows, d) array.
    Lam = np.maximum(counts, 1).astype(FLOAT)[:, None] * lam[None, :]
    # segment @ M sums the rows of M belonging to each row u, weighted by segment.data.
    segment = sp.csr_matrix(
        (np.ones(b - a, dtype=FLOAT), np.arange(b - a), local_ptr), shape=(hi - lo, b - a)
    )
    x = X[lo:hi].copy()

    # r = F_uᵀ t_u − F_uᵀ F_u x − Λ_u x = Σ_i (t_ui − f_i·x) f_i − Λ_u x
    segment.data = targets[a:b] - rowdot(Fg, np.repeat(x, counts, axis=0))
    r = segment @ Fg - Lam * x
    p = r.copy()
    rs_old = rowdot(r, r)
    for _ in range(cg_steps):
        # Ap = F_uᵀ F_u p + Λ_u p
        segment.data = rowdot(Fg, np.repeat(p, counts, axis=0))
        Ap = segment @ Fg + Lam * p
        step = safe_divide(rs_old, rowdot(p, Ap))
        x += step[:, None] * p
        r -= step[:, None] * Ap
        rs_new = rowdot(r, r)
        p = r + safe_divide(rs_new, rs_old)[:, None] * p
        rs_old = rs_new
    X[lo:hi] = x


def ridge_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    targets: np.ndarray,
    F: np.ndarray,
    lam: np.ndarray,
) -> np.ndarray:
    """Ridge regression per CSR row: x_u = (F_uᵀF_u + n_u·diag(lam))^{-1} F_uᵀ t_u.

    Parameters
    ----------
    indptr, indices : CSR structure, n_rows + 1 and nnz entries
    targets : float array, shape (nnz,)
        The regression target of each stored cell.
    F : float32 array, shape (n_cols, d)
        Features of each column.
    lam : float32 array, shape (d,)
        Per-feature penalty, scaled by max(n_u, 1) (ALS-WR).

    Returns
    -------
    float32 array, shape (n_rows, d)
    """
    n_rows, d = indptr.size - 1, F.shape[1]
    counts = np.diff(indptr)
    # Sorted by count, a block of rows pads to nearly its own length: little wasted work.
    order = np.argsort(counts, kind="stable")
    sorted_counts = counts[order]
    # A zero feature row at the end stands in for the padding.
    F_pad = np.vstack([F, np.zeros((1, d), dtype=F.dtype)])
    t_pad = np.append(np.asarray(targets, dtype=FLOAT), FLOAT(0))
    indices_pad = np.append(indices, F.shape[0])
    X = np.zeros((n_rows, d), dtype=FLOAT)
    start = 0
    while start < n_rows:
        # Grow the block while (rows × longest row) stays within budget; counts only grow.
        sizes = np.arange(1, n_rows - start + 1) * np.maximum(sorted_counts[start:], 1)
        stop = start + max(int(np.searchsorted(sizes, BLOCK_CELLS, side="right")), 1)
        block = order[start:stop]
        longest = max(int(sorted_counts[stop - 1]), 1)
        offsets = np.arange(longest)
        cell = indptr[block][:, None] + offsets
        valid = offsets < counts[block][:, None]
        cell = np.where(valid, cell, t_pad.size - 1)
        column = indices_pad[cell]
        Fg = F_pad[column]  # (rows, longest, d)
        tg = t_pad[cell]  # (rows, longest)
        # A_u = F_uᵀ F_u + max(n_u, 1)·diag(λ);  b_u = F_uᵀ t_u
        A = np.matmul(Fg.transpose(0, 2, 1), Fg)
        A[:, np.arange(d), np.arange(d)] += np.maximum(counts[block], 1)[:, None] * lam
        rhs = np.einsum("nld,nl->nd", Fg, tg)
        X[block] = np.linalg.solve(A.astype(np.float64), rhs[:, :, None].astype(np.float64))[
            :, :, 0
        ]
        start = stop
    if not np.all(np.isfinite(X)):
        raise FitError("ridge solve produced NaN or infinite parameters")
    return X
