"""Top-k with exclusion masks and candidate sets, for one row or many, and the head/tail split
of a ranked list. Re-ranking and blending are in ``rerank``.
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
        # A stored 0 is no interaction: mask it out of the index lists, O(nnz of the exclusion
        # rows), rather than copy the matrix and eliminate_zeros() on every request.
        stored = exclude.data != 0
        rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))[stored]
        cols = exclude.indices[stored].astype(np.int64)
        if column_of is not None:
            position = np.searchsorted(column_of, cols)
            # Past the last candidate (every column, when there are none) is no candidate.
            inside = position < column_of.size
            rows, cols, position = rows[inside], cols[inside], position[inside]
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


def top_k_shared(
    scores: np.ndarray, n: int, *, exclude: sp.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """``top_k`` for rows that share one score vector (a non-personalised model), each row
    excluding its own items, without the dense (n_rows, n_items) block ``top_k`` would build.

    The items are ranked once (score descending, lower index first); each row then takes the
    first ``n`` of the ``n + its excluded count`` best that it has not excluded.

    Parameters
    ----------
    scores : array, shape (n_items,)
    n : int
    exclude : csr_matrix, shape (n_rows, n_items)
        Non-zero entries are never returned.

    Returns
    -------
    ids : int64 array, shape (n_rows, n), -1 padded; top_scores : float32, -inf padded.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    scores = np.asarray(scores, dtype=np.float32)
    exclude = sp.csr_matrix(exclude)
    n_rows, n_items = exclude.shape
    if scores.shape != (n_items,):
        raise ValueError(f"scores have shape {scores.shape}, expected ({n_items},)")
    stored = exclude.data != 0
    per_row = np.bincount(
        np.repeat(np.arange(n_rows), np.diff(exclude.indptr))[stored], minlength=n_rows
    )
    finite = np.flatnonzero(np.isfinite(scores))
    ranked = finite[np.lexsort((finite, -scores[finite]))]
    head = ranked[: n + (int(per_row.max()) if n_rows else 0)]
    # position of each item in the head, -1 outside it
    position = np.full(n_items, -1, dtype=np.int64)
    position[head] = np.arange(head.size)
    blocked = np.zeros((n_rows, head.size), dtype=bool)
    rows = np.repeat(np.arange(n_rows), np.diff(exclude.indptr))[stored]
    at = position[exclude.indices[stored]]
    blocked[rows[at >= 0], at[at >= 0]] = True
    # False sorts first and the sort is stable: each row's unblocked items, best first.
    picks = np.argsort(blocked, axis=1, kind="stable")[:, :n]
    ids = head[picks] if head.size else np.zeros((n_rows, 0), dtype=np.int64)
    ok = ~np.take_along_axis(blocked, picks, axis=1)
    ids = np.where(ok, ids, -1).astype(np.int64)
    top_scores = np.where(ok, scores[np.maximum(ids, 0)], -np.inf).astype(np.float32)
    if ids.shape[1] < n:
        pad = n - ids.shape[1]
        ids = np.hstack([ids, np.full((n_rows, pad), -1, dtype=np.int64)])
        top_scores = np.hstack([top_scores, np.full((n_rows, pad), -np.inf, dtype=np.float32)])
    return ids, top_scores


def top_k_row(
    scores: np.ndarray,
    n: int,
    *,
    exclude: np.ndarray | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` entries of one shopper's 1-D ``scores``: the request-time ``top_k``.

    Same result as ``top_k`` on a single row (best first, ties by lower index, -1 / -inf
    padding), without its 2-D bookkeeping: exclusion is a direct index assignment and the
    partition runs on a 1-D array, so the cost is one O(n_items) pass plus a sort of ``n``.

    Parameters
    ----------
    scores : array, shape (n_items,)
        Not modified.
    n : int
    exclude : int array, optional
        Item indices never returned (the shopper's own items).
    candidates : int array, optional
        Only these item indices may be returned; duplicates are ignored.

    Returns
    -------
    ids : int64 array, shape (n,); top_scores : float32 array, shape (n,)
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    # Work on negated scores so argpartition's ascending order is best first; +inf = ineligible.
    negated = np.negative(np.asarray(scores, dtype=np.float32).ravel())
    if exclude is not None and len(exclude):
        negated[exclude] = np.inf
    column_of = None
    if candidates is not None:
        column_of = np.unique(np.asarray(candidates, dtype=np.int64))
        negated = negated[column_of]
    width = negated.size
    take = min(n, width)
    ids = np.full(n, -1, dtype=np.int64)
    top_scores = np.full(n, -np.inf, dtype=np.float32)
    if take == 0:
        return ids, top_scores
    part = np.argpartition(negated, take - 1)[:take] if take < width else np.arange(width)
    part_scores = negated[part]
    if np.isnan(part_scores).any() or np.isneginf(part_scores).any():
        # Rare (a NaN or +inf score was picked): mark every non-finite score ineligible and
        # partition again. Skipping this O(n_items) pass otherwise keeps the common case lean.
        negated[~np.isfinite(negated)] = np.inf
        part = np.argpartition(negated, take - 1)[:take] if take < width else np.arange(width)
        part_scores = negated[part]
    order = np.lexsort((part, part_scores))  # score descending, then lower index
    part, part_scores = part[order], part_scores[order]
    valid = np.isfinite(part_scores)
    part = part if column_of is None else column_of[part]
    ids[:take] = np.where(valid, part, -1)
    top_scores[:take] = np.where(valid, -part_scores, -np.inf)
    return ids, top_scores


def head_tail(
    head: np.ndarray,
    tail: np.ndarray,
    n: int,
    n_head: int,
    *,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_head`` slots from ``head``'s ranking, the rest from ``tail``'s, no repeats.

    A coverage re-rank: the top slots, which carry most of a list's value, stay with the most
    accurate model and the lower ones go to a model that reaches further into the catalogue
    (e.g. RP3beta with a popularity penalty), so different shoppers' lists overlap less. When
    ``head`` has fewer than ``n_head`` eligible items, the tail fills the gap.

    Parameters
    ----------
    head, tail : arrays, shape (n_rows, n_items) or (n_items,)
        Scores of the two models (any scale: only their orders are used). Not modified.
    n, n_head : int
        List length and head slots, 0 <= n_head <= n.
    exclude, candidates
        As in ``top_k``, applied to both models.

    Returns
    -------
    ids : int64 array, shape (n_rows, n); -1 where fewer than ``n`` items are eligible.
    scores : float32 array, shape (n_rows, n)
        Slot scores n, n-1, ..., 1 (the models' scales differ, so the position is the score);
        -inf where ids is -1.
    """
    if not 0 <= n_head <= n:
        raise ValueError(f"n_head must be in [0, n={n}], got {n_head}")
    tail = np.array(np.atleast_2d(tail), dtype=np.float32)
    n_rows = tail.shape[0]
    head_ids = np.empty((n_rows, 0), dtype=np.int64)
    if n_head:
        head_ids = top_k(head, n_head, exclude=exclude, candidates=candidates)[0]
        rows = np.repeat(np.arange(n_rows), n_head)
        picked = head_ids.ravel() >= 0
        # An item the head placed is not offered again by the tail.
        tail[rows[picked], head_ids.ravel()[picked]] = -np.inf
    tail_ids = top_k(tail, n, exclude=exclude, candidates=candidates)[0]
    ids = np.hstack([head_ids, tail_ids])
    # Valid ids first, each part in its own order: the tail backfills a short head.
    order = np.argsort(ids < 0, axis=1, kind="stable")[:, :n]
    ids = np.take_along_axis(ids, order, axis=1)
    slots = np.broadcast_to(np.arange(n, 0, -1, dtype=np.float32), ids.shape)
    return ids, np.where(ids >= 0, slots, np.float32(-np.inf)).astype(np.float32)
