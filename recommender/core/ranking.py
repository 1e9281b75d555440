"""Ranking helpers: top-k with exclusion masks and candidate sets.

Diversity re-ranking and model blending live here too as they are added.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(
    scores: np.ndarray,
    n: int,
    *,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` columns per row of ``scores``, best first.

    Parameters
    ----------
    scores : array, shape (n_rows, n_items) or (n_items,)
        Higher is better. Not modified.
    n : int
        How many to return per row (must be >= 1).
    exclude : csr_matrix, shape (n_rows, n_items), optional
        Non-zero entries are never returned (already-seen items).
    candidates : int array, optional
        Only these columns may be returned (e.g. products in a promotion).

    Returns
    -------
    ids : int64 array, shape (n_rows, n)
        Column indices; -1 where fewer than ``n`` columns are eligible.
    top_scores : float32 array, shape (n_rows, n)
        Their scores; -inf where ids is -1.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    n_rows, n_items = scores.shape
    if candidates is not None:
        # Score only the candidate columns, then map back: cheaper than masking everything else.
        candidates = np.unique(np.asarray(candidates, dtype=np.int64))
        work = scores[:, candidates].copy()
        column_of = candidates
    else:
        work = scores.copy()
        column_of = None
    work[~np.isfinite(work)] = -np.inf
    if exclude is not None and exclude.nnz:
        exclude = sp.csr_matrix(exclude)
        if exclude.shape != (n_rows, n_items):
            raise ValueError(f"exclude has shape {exclude.shape}, scores have {(n_rows, n_items)}")
        rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))
        cols = exclude.indices.astype(np.int64)
        if column_of is not None:
            position = np.searchsorted(column_of, cols)
            position[position == column_of.size] = 0
            hit = column_of[position] == cols
            rows, cols = rows[hit], position[hit]
        work[rows, cols] = -np.inf
    width = work.shape[1]
    take = min(n, width)
    if take == 0:
        return np.full((n_rows, n), -1, dtype=np.int64), np.full(
            (n_rows, n), -np.inf, dtype=np.float32
        )
    if take < width:
        part = np.argpartition(-work, take - 1, axis=1)[:, :take]
    else:
        part = np.broadcast_to(np.arange(width), (n_rows, width)).copy()
    part_scores = np.take_along_axis(work, part, axis=1)
    # Stable order: score descending, then lower index first, so results are deterministic.
    order = np.lexsort((part, -part_scores), axis=1)
    ids = np.take_along_axis(part, order, axis=1)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    if column_of is not None:
        ids = column_of[ids]
    ids = ids.astype(np.int64)
    ids[~np.isfinite(top_scores)] = -1
    if take < n:
        pad = n - take
        ids = np.hstack([ids, np.full((n_rows, pad), -1, dtype=np.int64)])
        top_scores = np.hstack([top_scores, np.full((n_rows, pad), -np.inf, dtype=np.float32)])
    return ids, top_scores.astype(np.float32)
