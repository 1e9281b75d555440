"""After the models score: diversity re-ranking of one list (per-category caps, MMR),
blending several models' scores into one, and a popularity penalty that gives the long tail
its turn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import EPS


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


def popularity_discount(support: Any, exponent: float) -> np.ndarray:
    """Each item's factor ``max(support, 1) ** -exponent``: what ``discounted`` multiplies a
    positive score by (Steck 2011's popularity-stratified ranking, in its simplest form).

    Computed once per served model, not per request (a power over 60k items is ~0.5 ms).
    ``support`` of 0 (no training shopper) counts as 1: such items are not pushed up.

    Parameters
    ----------
    support : int array, shape (n_items,)
        Distinct training shoppers per item.
    exponent : float >= 0
        β: 0 leaves every score as it is; 0.2 halves the score of an item with 32 shoppers
        against one with a single shopper.

    Returns
    -------
    float32 array, shape (n_items,), each in (0, 1].
    """
    if not (np.isfinite(exponent) and exponent >= 0):
        raise ValueError(f"exponent must be finite and >= 0, got {exponent}")
    counts = np.asarray(support, dtype=np.float64).ravel()
    if counts.size and not (np.isfinite(counts).all() and (counts >= 0).all()):
        raise ValueError("support must be finite and >= 0")
    return np.power(np.maximum(counts, 1.0), -float(exponent)).astype(np.float32)


def discounted(scores: Any, discount: np.ndarray) -> np.ndarray:
    """``scores`` with each positive entry multiplied by its item's ``discount``; zero,
    negative and non-finite entries unchanged, so what was not recommendable stays so and no
    item crosses zero.

    Parameters
    ----------
    scores : array, shape (n_items,) or (n_rows, n_items)
        Not modified.
    discount : float array, shape (n_items,)
        ``popularity_discount``'s factors.

    Returns
    -------
    float32 array, same shape as ``scores``.
    """
    array = np.asarray(scores, dtype=np.float32)
    if array.shape[-1:] != np.shape(discount):
        raise ValueError(f"scores have shape {array.shape}, discount {np.shape(discount)}")
    return np.where(array > 0, array * discount, array).astype(np.float32, copy=False)
