"""Ranking helpers: top-k with exclusion masks and candidate sets, diversity re-ranking
(per-category caps, MMR) and score blending across models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import EPS


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


def _ranked(ids: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Valid (id >= 0, finite score) entries of a 1-D list, best first, ties in list order."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float32).ravel()
    if ids.shape != scores.shape:
        raise ValueError(f"ids has shape {ids.shape}, scores {scores.shape}")
    valid = (ids >= 0) & np.isfinite(scores)
    ids, scores = ids[valid], scores[valid]
    order = np.argsort(-scores, kind="stable")
    return ids[order], scores[order]


def _padded(ids: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    out_ids = np.full(n, -1, dtype=np.int64)
    out_scores = np.full(n, -np.inf, dtype=np.float32)
    out_ids[: ids.size] = ids[:n]
    out_scores[: ids.size] = scores[:n]
    return out_ids, out_scores


def diversify(
    ids: Any, scores: Any, item_categories: Any, max_share: float, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank one shopper's list so no category fills more than ``max_share`` of ``n`` slots.

    Walks the list best first and keeps an item while its category has fewer than
    ``cap = max(1, floor(max_share * n))`` kept items (one stable sort computes every item's
    rank within its category, no loop). If the caps leave fewer than ``n`` items, the best
    skipped items fill the remaining slots: a slot is never emptier than it would be without
    diversity. Category ``-1`` means "uncategorised" and is not capped.

    Parameters
    ----------
    ids, scores : arrays, shape (m,)
        Candidates, e.g. ``top_k`` output for a few times ``n``; -1 / -inf padding is dropped.
    item_categories : int array, shape (n_items,)
        Category per item index.
    max_share : float in (0, 1]
    n : int

    Returns
    -------
    ids, scores : arrays of shape (n,), -1 / -inf padded.
    """
    if not 0 < max_share <= 1:
        raise ValueError(f"max_share must be in (0, 1], got {max_share}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ids, scores = _ranked(ids, scores)
    categories = np.asarray(item_categories).ravel()
    if ids.size and ids.max() >= categories.size:
        raise ValueError(f"item id {ids.max()} has no category ({categories.size} given)")
    cats = categories[ids]
    cap = max(1, int(np.floor(max_share * n + EPS)))  # 0.29 * 100 is 28.999999999999996
    # rank within category = how many better items share its category
    order = np.argsort(cats, kind="stable")
    sorted_cats = cats[order]
    first = np.r_[0, np.flatnonzero(sorted_cats[1:] != sorted_cats[:-1]) + 1]
    group_start = np.repeat(first, np.diff(np.r_[first, sorted_cats.size]))
    rank = np.empty(ids.size, dtype=np.int64)
    rank[order] = np.arange(ids.size) - group_start
    chosen = (rank < cap) | (cats == -1)
    picked = np.r_[np.flatnonzero(chosen)[:n], np.flatnonzero(~chosen)]
    return _padded(ids[picked], scores[picked], n)


def mmr(
    ids: Any,
    scores: Any,
    similarity: sp.spmatrix | np.ndarray | Callable[[np.ndarray, np.ndarray], Any],
    n: int,
    *,
    relevance_weight: float = 0.7,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximal marginal relevance (Carbonell & Goldstein 1998) over one shopper's candidates.

    Pick i maximising  λ rel_i - (1 - λ) max_{j picked} sim(i, j),  ``n`` times; ``rel`` is the
    score min-max scaled to [0, 1] so λ trades it evenly against a similarity in [0, 1].
    The candidate-by-candidate similarity block is fetched once; each of the ``n`` steps is
    one vectorised pass over the candidates.

    Parameters
    ----------
    ids, scores : arrays, shape (m,)
        Candidates (a few times ``n`` is plenty).
    similarity : (n_items, n_items) sparse or dense matrix, or a callable
        ``similarity(a_ids, b_ids) -> (len(a), len(b))`` (e.g. content similarity).
    n : int
    relevance_weight : float in [0, 1]
        λ: 1 keeps the original order, 0 maximises diversity.

    Returns
    -------
    ids, scores : arrays of shape (n,) with the original scores, -1 / -inf padded.
    """
    if not 0 <= relevance_weight <= 1:
        raise ValueError(f"relevance_weight must be in [0, 1], got {relevance_weight}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ids, scores = _ranked(ids, scores)
    if ids.size == 0:
        return _padded(ids, scores, n)
    if callable(similarity):
        pairwise = np.asarray(similarity(ids, ids), dtype=np.float32)
    elif sp.issparse(similarity):
        pairwise = sp.csr_matrix(similarity)[ids][:, ids].toarray()
    else:
        pairwise = np.asarray(similarity, dtype=np.float32)[np.ix_(ids, ids)]
    if pairwise.shape != (ids.size, ids.size):
        raise ValueError(f"similarity gave shape {pairwise.shape} for {ids.size} candidates")
    span = scores[0] - scores[-1]
    relevance = (scores - scores[-1]) / span if span > 0 else np.ones_like(scores)
    lam = relevance_weight
    redundancy = np.zeros(ids.size, dtype=np.float32)
    available = np.ones(ids.size, dtype=bool)
    picked = []
    for _ in range(min(n, ids.size)):
        gain = np.where(available, lam * relevance - (1 - lam) * redundancy, -np.inf)
        best = int(np.argmax(gain))
        picked.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, pairwise[best])
    picked_array = np.asarray(picked, dtype=np.int64)
    return _padded(ids[picked_array], scores[picked_array], n)


Normalization = Literal["minmax", "rank"]


def normalize_scores(scores: Any, method: Normalization = "minmax") -> np.ndarray:
    """Per-row scores mapped to [0, 1] so models on different scales can be added.

    ``minmax``: (s - min) / (max - min) over each row's finite entries, O(n_items) per row,
    cheap enough for the request path; a constant row becomes 0. ``rank``: the percentile of
    each score within its row (ties ordered by item index), robust to one huge outlier (a
    popularity count of thousands beside tens) at the price of a sort per row. Non-finite
    entries stay -inf.

    Parameters
    ----------
    scores : array, shape (n_rows, n_items) or (n_items,)

    Returns
    -------
    float32 array, same shape.
    """
    array = np.asarray(scores, dtype=np.float32)
    work = np.atleast_2d(array).copy()
    finite = np.isfinite(work)
    if method == "minmax":
        low = np.where(finite, work, np.inf).min(axis=1, keepdims=True)
        high = np.where(finite, work, -np.inf).max(axis=1, keepdims=True)
        span = high - low
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(span > 0, (work - low) / np.where(span > 0, span, 1), 0.0)
    elif method == "rank":
        # Ordinal rank within the row (ties by item index); non-finite entries sort first, so
        # subtracting their count makes the worst finite score rank 0.
        n_cols = work.shape[1]
        n_finite = finite.sum(axis=1, keepdims=True)
        order = np.argsort(np.where(finite, work, -np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n_cols)[None, :], axis=1)
        out = (rank - (n_cols - n_finite)) / np.maximum(n_finite - 1, 1)
    else:
        raise ValueError(f"method must be 'minmax' or 'rank', got {method!r}")
    out = np.where(finite, out, -np.inf).astype(np.float32)
    return out.reshape(array.shape)


def blend(
    score_arrays: Sequence[Any],
    weights: Sequence[float],
    *,
    method: Normalization = "minmax",
) -> np.ndarray:
    """Σ_m w_m · normalize(S_m): combine several models' scores for the same rows and items.

    Each model's scores are normalised per row first (see ``normalize_scores``): raw scales
    differ across models (factor dot products near 1, kNN sums that grow with the shopper's
    history, popularity counts in the thousands) and across shoppers, so without it the
    weights would mean nothing. An item any model marks ineligible (-inf) stays ineligible.

    Parameters
    ----------
    score_arrays : sequence of arrays, each shape (n_rows, n_items)
    weights : sequence of float, one per array, >= 0

    Returns
    -------
    float32 array, shape (n_rows, n_items)
    """
    if len(score_arrays) == 0 or len(score_arrays) != len(weights):
        raise ValueError(
            f"need one weight per score array, got {len(weights)} weights for "
            f"{len(score_arrays)} arrays"
        )
    weights_array = np.asarray(weights, dtype=np.float32)
    if not np.all(np.isfinite(weights_array)) or (weights_array < 0).any():
        raise ValueError("weights must be finite and >= 0")
    shape = np.shape(score_arrays[0])
    total = np.zeros(shape, dtype=np.float32)
    for weight, scores in zip(weights_array, score_arrays, strict=True):
        if np.shape(scores) != shape:
            raise ValueError(f"score arrays differ in shape: {shape} and {np.shape(scores)}")
        normalised = normalize_scores(scores, method)
        # 0 x -inf would be NaN: an ineligible item stays -inf whatever its weight.
        ineligible = ~np.isfinite(normalised)
        normalised[ineligible] = 0.0
        total += weight * normalised
        total[ineligible] = -np.inf
    return total
