"""Scoring replayed lists as the reference scorer does: binary gain, log2 discount, ideal DCG of
min(|test|, k) hits, items the user had in training zeroed (misses), coverage over every item."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.core.evaluation import paired_bootstrap_ratio


def score_lists(
    recs: np.ndarray,
    *,
    users: np.ndarray,
    relevant: sp.csr_matrix,
    k: int = 10,
    exclude: sp.csr_matrix | None = None,
) -> tuple[dict[str, float], np.ndarray]:
    """(mean metrics at ``k``, per-user NDCG) of ``recs`` (item codes per row of ``users``,
    -1 = nothing), judged against ``relevant``; items in ``exclude`` count as misses."""
    recs = np.array(recs, dtype=np.int64)[:, :k]
    if recs.shape[1] < k:
        recs = np.pad(recs, ((0, 0), (0, k - recs.shape[1])), constant_values=-1)
    if exclude is not None:
        recs[_member(exclude, users, recs)] = -1
    hits = _member(relevant, users, recs).astype(np.float64)
    n_relevant = np.diff(relevant.indptr)[users].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k).astype(np.int64) - 1]
    ndcg = (hits * discounts).sum(axis=1) / ideal
    n_hits = hits.sum(axis=1)
    shown = recs[recs >= 0]
    metrics = {
        "n_shoppers": int(users.size),
        f"ndcg@{k}": float(ndcg.mean()),
        f"recall@{k}": float((n_hits / n_relevant).mean()),
        f"hr@{k}": float((n_hits > 0).mean()),
        f"coverage@{k}": float(np.unique(shown).size / relevant.shape[1]),
    }
    return metrics, ndcg


def score_pages(
    pages: list[np.ndarray], *, users: np.ndarray, relevant: sp.csr_matrix
) -> dict[str, float]:
    """Recall and hit rate of whole pages (every slot's items, any length) per user."""
    recall, hit = np.zeros(users.size), np.zeros(users.size)
    for n, (user, page) in enumerate(zip(users.tolist(), pages, strict=True)):
        wanted = relevant.indices[relevant.indptr[user] : relevant.indptr[user + 1]]
        found = np.intersect1d(wanted, page).size
        recall[n], hit[n] = found / max(wanted.size, 1), found > 0
    return {"n_shoppers": int(users.size), "recall@page": recall.mean(), "hr@page": hit.mean()}


def ratio_interval(ours: np.ndarray, theirs: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """mean(ours) / mean(theirs) with its 95 % paired bootstrap interval over shoppers."""
    ratio, low, high = paired_bootstrap_ratio(ours, theirs, n_resamples=2000, random_state=seed)
    return {"ratio": ratio, "low": low, "high": high}


def _member(matrix: sp.csr_matrix, users: np.ndarray, recs: np.ndarray) -> np.ndarray:
    """Bool (rows × k): is ``recs[r, j]`` stored in ``matrix``'s row ``users[r]``?"""
    n_items = matrix.shape[1]
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys = rows * n_items + matrix.indices
    wanted = users[:, None].astype(np.int64) * n_items + np.maximum(recs, 0)
    return np.isin(wanted, keys) & (recs >= 0)
