"""Offline evaluation: ranking metrics at K and beyond-accuracy metrics (splits in ``splits``).

Everything is vectorised over users. Conventions shared by every ranking metric:

- ``recommended`` is an int array of shape (n_users, k), best first; ``-1`` pads short lists
  (as ``top_k`` returns them) and never counts as a hit.
- ``relevant`` is a CSR matrix of shape (n_users, n_items) whose non-zero entries are the
  held-out items of each row; row ``u`` of ``relevant`` belongs to row ``u`` of ``recommended``.
- Rows with no relevant item are skipped by the mean (they carry no signal).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp


class _Recommends(Protocol):
    def recommend(
        self, user_ids: Any, user_items: sp.csr_matrix, n: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]: ...


# -- ranking metrics --------------------------------------------------------------------------


def hits_at_k(recommended: Any, relevant: sp.spmatrix) -> np.ndarray:
    """Boolean (n_users, k): is ``recommended[u, j]`` among row ``u``'s relevant items.

    An id a list repeats is a hit at its first position only, so no metric exceeds 1.
    One ``searchsorted`` over flattened (row, item) keys, so no Python loop over users.
    """
    recommended = np.atleast_2d(np.asarray(recommended, dtype=np.int64))
    relevant = sp.csr_matrix(relevant)
    if relevant.shape[0] != recommended.shape[0]:
        raise ValueError(
            f"relevant has {relevant.shape[0]} rows, recommended has {recommended.shape[0]}"
        )
    relevant.eliminate_zeros()
    relevant.sort_indices()
    n_items = np.int64(relevant.shape[1])
    rel_rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = rel_rows * n_items + relevant.indices.astype(np.int64)
    rec_keys = np.arange(recommended.shape[0], dtype=np.int64)[:, None] * n_items + recommended
    if rel_keys.size == 0:
        return np.zeros(recommended.shape, dtype=bool)
    position = np.searchsorted(rel_keys, rec_keys)
    position[position == rel_keys.size] = 0
    hits = (rel_keys[position] == rec_keys) & (recommended >= 0)
    # Keys are unique per (row, item) and row-major, so np.unique's first index of each key is
    # its first position in that row; a repeat would count twice (recall 2.0, NDCG above 1).
    hit_at = np.flatnonzero(hits.ravel())
    _, first = np.unique(rec_keys.ravel()[hit_at], return_index=True)
    once = np.zeros(hits.size, dtype=bool)
    once[hit_at[first]] = True
    return once.reshape(hits.shape)


def _n_relevant(relevant: sp.spmatrix) -> np.ndarray:
    relevant = sp.csr_matrix(relevant)
    relevant.eliminate_zeros()
    return np.diff(relevant.indptr).astype(np.int64)


def _discounts(k: int) -> np.ndarray:
    # DCG position discount 1 / log2(rank + 1) with ranks starting at 1.
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _metrics_from_hits(hits: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user metric arrays of shape (n_users,) from hits (n_users, k) and |relevant|."""
    k = hits.shape[1]
    hits_f = hits.astype(np.float64)
    n_hits = hits_f.sum(axis=1)
    safe = np.maximum(n_relevant, 1)
    discounts = _discounts(k)
    dcg = hits_f @ discounts
    # Ideal DCG: all min(k, |rel|) relevant items at the top.
    idcg = np.r_[0.0, np.cumsum(discounts)][np.minimum(n_relevant, k)]
    precision_at_j = np.cumsum(hits_f, axis=1) / np.arange(1, k + 1)
    # AP@k = sum_j P@j * rel_j / min(k, |rel|)  (the normalisation implicit and RecBole use).
    ap = (precision_at_j * hits_f).sum(axis=1) / np.minimum(safe, k)
    return {
        "precision": n_hits / k,
        "recall": n_hits / safe,
        "ndcg": np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0),
        "map": ap,
        "hit_rate": (n_hits > 0).astype(np.float64),
    }


def _mean_metric(recommended: Any, relevant: sp.spmatrix, k: int | None, name: str) -> float:
    values = per_user_metrics(recommended, relevant, k)[name]
    return float(values.mean()) if values.size else 0.0


def per_user_metrics(
    recommended: Any, relevant: sp.spmatrix, k: int | None = None
) -> dict[str, np.ndarray]:
    """Each metric per user with relevant items, arrays of shape (n_scored,) in row order:
    ``precision``, ``recall``, ``ndcg``, ``map``, ``hit_rate`` (the values the means average)."""
    recommended = np.atleast_2d(np.asarray(recommended, dtype=np.int64))
    if k is not None:
        # As evaluate(): a slice by k <= 0 would drop columns from the end or leave none (NaN).
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        recommended = recommended[:, :k]
    n_relevant = _n_relevant(relevant)
    per_user = _metrics_from_hits(hits_at_k(recommended, relevant), n_relevant)
    scored = n_relevant > 0
    return {name: values[scored] for name, values in per_user.items()}


def paired_bootstrap_ratio(
    ours: Any,
    theirs: Any,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> tuple[float, float, float]:
    """mean(ours) / mean(theirs) and its percentile bootstrap interval, users resampled in pairs.

    Both arrays hold one value per user (the same users in the same order), e.g. the per-user
    NDCG of two models on one test split. A target stated as a ratio ("≥ 1.05 × the anchor")
    can only be told apart from chance when the interval excludes it: on a split of a few dozen
    users it spans tens of percent.

    Returns
    -------
    (ratio, low, high) : the observed ratio and the interval's bounds; ``nan`` where the
        denominator is 0.
    """
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.ndim != 1 or ours.shape != theirs.shape:
        raise ValueError(
            f"ours and theirs must be 1-D with one value per user, got {ours.shape} and "
            f"{theirs.shape}"
        )
    if ours.size == 0:
        raise ValueError("no users to compare")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    rng = np.random.default_rng(random_state)
    picks = rng.integers(0, ours.size, size=(n_resamples, ours.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = ours.mean() / theirs.mean() if theirs.mean() else np.nan
        ratios = ours[picks].mean(axis=1) / theirs[picks].mean(axis=1)
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return float(observed), float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(observed), float(low), float(high)


def precision_at_k(recommended: Any, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean over users with relevant items of |hits in top k| / k."""
    return _mean_metric(recommended, relevant, k, "precision")


def recall_at_k(recommended: Any, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean over users of |hits in top k| / |relevant|."""
    return _mean_metric(recommended, relevant, k, "recall")


def ndcg_at_k(recommended: Any, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean binary-gain NDCG: sum_j rel_j / log2(j + 1) over the ideal DCG of min(k, |rel|)."""
    return _mean_metric(recommended, relevant, k, "ndcg")


def map_at_k(recommended: Any, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Mean average precision: AP@k = sum_j P@j * rel_j / min(k, |relevant|)."""
    return _mean_metric(recommended, relevant, k, "map")


def hit_rate_at_k(recommended: Any, relevant: sp.spmatrix, k: int | None = None) -> float:
    """Share of users with at least one relevant item in their top k."""
    return _mean_metric(recommended, relevant, k, "hit_rate")


# -- beyond accuracy --------------------------------------------------------------------------


def catalog_coverage(recommended: Any, n_items: int) -> float:
    """Share of the ``n_items`` catalogue that appears in at least one list (-1 ignored)."""
    recommended = np.asarray(recommended, dtype=np.int64).ravel()
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    return float(np.unique(recommended[recommended >= 0]).size / n_items)


def intra_list_diversity(
    recommended: Any, *, categories: Any = None, item_features: Any = None
) -> float:
    """Mean pairwise dissimilarity inside each list, averaged over lists.

    Exactly one of:

    categories : int array, shape (n_items,)
        Dissimilarity of a pair is 1 when the two categories differ, else 0.
    item_features : array or sparse matrix, shape (n_items, n_features)
        Dissimilarity is 1 - cosine similarity of the two feature rows.

    Lists with fewer than two items (after dropping -1 padding) are skipped.
    """
    if (categories is None) == (item_features is None):
        raise ValueError("pass exactly one of categories or item_features")
    recommended = np.atleast_2d(np.asarray(recommended, dtype=np.int64))
    k = recommended.shape[1]
    first, second = np.triu_indices(k, 1)
    a, b = recommended[:, first], recommended[:, second]
    valid = (a >= 0) & (b >= 0)
    if categories is not None:
        categories = np.asarray(categories)
        dissimilarity = (categories[np.maximum(a, 0)] != categories[np.maximum(b, 0)]).astype(
            np.float64
        )
    else:
        dissimilarity = 1.0 - _pair_cosine(item_features, np.maximum(a, 0), np.maximum(b, 0))
    n_pairs = valid.sum(axis=1)
    per_list = (dissimilarity * valid).sum(axis=1)
    scored = n_pairs > 0
    return float((per_list[scored] / n_pairs[scored]).mean()) if scored.any() else 0.0


def _pair_cosine(features: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of feature rows a[u, p] and b[u, p]; shape of ``a``. Zero rows give 0."""
    if sp.issparse(features):
        features = sp.csr_matrix(features, dtype=np.float64)
        norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
        dots = np.asarray(features[a.ravel()].multiply(features[b.ravel()]).sum(axis=1)).ravel()
    else:
        features = np.asarray(features, dtype=np.float64)
        norms = np.linalg.norm(features, axis=1)
        dots = np.einsum("ij,ij->i", features[a.ravel()], features[b.ravel()])
    denominator = norms[a.ravel()] * norms[b.ravel()]
    cosine = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
    return cosine.reshape(a.shape)


def item_popularity(user_items: sp.spmatrix) -> np.ndarray:
    """Number of distinct users per item, shape (n_items,), from a (n_users, n_items) matrix."""
    matrix = sp.csc_matrix(user_items)
    matrix.eliminate_zeros()
    return np.diff(matrix.indptr).astype(np.int64)


def novelty(recommended: Any, popularity: Any, n_users: int) -> float:
    """Mean self-information -log2(p_i) of recommended items, p_i = max(pop_i, 1) / n_users.

    Higher means less obvious recommendations. Items never seen count as seen once so the
    score stays finite. -1 padding is ignored.
    """
    recommended = np.asarray(recommended, dtype=np.int64).ravel()
    popularity = np.asarray(popularity, dtype=np.float64)
    if n_users <= 0:
        raise ValueError(f"n_users must be positive, got {n_users}")
    ids = recommended[recommended >= 0]
    if ids.size == 0:
        return 0.0
    return float(np.mean(-np.log2(np.maximum(popularity[ids], 1.0) / n_users)))


def rmse(predicted: Any, actual: Any) -> float:
    """Root mean squared error of rating predictions, both shape (n,)."""
    predicted = np.asarray(predicted, dtype=np.float64).ravel()
    actual = np.asarray(actual, dtype=np.float64).ravel()
    if predicted.shape != actual.shape:
        raise ValueError(f"predicted has {predicted.size} values, actual has {actual.size}")
    if predicted.size == 0:
        raise ValueError("rmse needs at least one rating")
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


# -- end to end ---------------------------------------------------------------------------


def sample_users(users: np.ndarray, max_users: int, *, random_state: int = 0) -> np.ndarray:
    """``users`` when there are at most ``max_users``, else a seeded sample of that many, in
    ascending order: the same users for every model scored on the same data."""
    if users.size <= max_users:
        return users
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(users, size=max_users, replace=False))


def evaluate(
    model: _Recommends,
    train: sp.spmatrix,
    test: sp.spmatrix,
    k: int = 10,
    *,
    batch_size: int = 1024,
    categories: Any = None,
    item_features: Any = None,
    include_cold_users: bool = False,
    max_users: int | None = None,
    random_state: int = 0,
) -> dict[str, float]:
    """Recommend top ``k`` (training items excluded) for every test user and score the lists.

    Parameters
    ----------
    model
        Anything with ``recommend(user_ids, user_items, n, exclude_seen)`` returning ids of shape
        (len(user_ids), n), e.g. every class in ``ALGORITHMS``.
    train, test : sparse matrices, shape (n_users, n_items)
        Same index space; ``train`` is what the model was fitted on and what is excluded.
    k : int
        List length.
    batch_size : int
        Users per ``recommend`` call: bounds the dense (batch, n_items) score block.
    categories, item_features
        Optional, for intra-list diversity (see ``intra_list_diversity``).
    include_cold_users : bool
        Also score test users with an empty training row (default: skip them).
    max_users : int, optional
        Score a sample of at most this many eligible users, drawn with ``random_state``: the
        same test matrix gives the same sample, so models scored on it compare like for like,
        and the cost stops growing with the shop. ``ndcg@k_ci95`` says what the sample costs.

    Returns
    -------
    dict
        ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k`` (means over test
        users), ``coverage`` (share of the n_items catalogue recommended to anyone),
        ``novelty`` (bits), ``diversity`` when categories/features are given, ``n_users``
        (scored), ``n_eligible_users`` and ``ndcg@k_ci95``, the half-width of NDCG's 95 %
        normal interval over the scored users.
    """
    train = sp.csr_matrix(train)
    test = sp.csr_matrix(test)
    if train.shape != test.shape:
        raise ValueError(f"train has shape {train.shape}, test has {test.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_relevant = _n_relevant(test)
    eligible = n_relevant > 0
    if not include_cold_users:
        eligible &= np.diff(train.indptr) > 0
    users = np.flatnonzero(eligible)
    n_eligible = users.size
    if max_users is not None:
        if max_users < 1:
            raise ValueError(f"max_users must be >= 1, got {max_users}")
        users = sample_users(users, max_users, random_state=random_state)
    recommended = np.full((users.size, k), -1, dtype=np.int64)
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        ids, _ = model.recommend(batch, train, n=k, exclude_seen=True)
        recommended[start : start + batch.size] = np.asarray(ids)[:, :k]
    per_user = _metrics_from_hits(hits_at_k(recommended, test[users]), n_relevant[users])
    metrics = {f"{name}@{k}": float(v.mean()) if v.size else 0.0 for name, v in per_user.items()}
    metrics["coverage"] = catalog_coverage(recommended, train.shape[1])
    metrics["novelty"] = novelty(recommended, item_popularity(train), train.shape[0])
    if categories is not None or item_features is not None:
        metrics["diversity"] = intra_list_diversity(
            recommended, categories=categories, item_features=item_features
        )
    metrics["n_users"] = float(users.size)
    metrics["n_eligible_users"] = float(n_eligible)
    ndcg = per_user["ndcg"]
    # 1.96 standard errors of the mean: the sample's (and the holdout's) own uncertainty.
    spread = 1.96 * ndcg.std(ddof=1) / np.sqrt(ndcg.size) if ndcg.size > 1 else 0.0
    metrics[f"ndcg@{k}_ci95"] = float(spread)
    return metrics
