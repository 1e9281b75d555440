"""Repeat purchases: TIFU-KNN's personal item frequency (Hu et al. 2020, "Modeling Personalized
Item Frequency Information for Next-basket Recommendation"), numbers only.

Each shopper's history is a time-decayed frequency vector: every purchase of item i counts
``2 ** (-age / half_life)``, so a short half-life lets last week's product beat an old favourite
and a long one ranks by plain frequency. The neighbour part (weight ``1 - alpha``) adds the
mean normalised history of the ``k`` shoppers whose histories are most similar (cosine).

Plain functions rather than a ``Recommender``: the protocol fits a static user × item matrix and
recommends what the user has *not* seen, while a repeat score needs each purchase's time and the
clock it is served at, and ranks what the user *has* bought. The ``buy_again`` slot calls
``decayed_frequency`` for one shopper; the replay calls ``repeat_recommend`` for many.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT
from recommender.core.ranking import top_k

DAY = 86400.0


def decay_weights(ages: np.ndarray, *, half_life: float) -> np.ndarray:
    """``2 ** (-age / half_life)`` per event (ages in the half-life's unit, negative → 1)."""
    if not half_life > 0:
        raise ValueError(f"half_life must be positive, got {half_life}")
    ages = np.maximum(np.asarray(ages, dtype=np.float64), 0.0)
    return np.exp2(-ages / half_life)


def decayed_frequency(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    *,
    now: float,
    half_life_days: float,
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """Users × items: each purchase before ``now`` (unix seconds) weighted by its decay.

    Parameters
    ----------
    users, items : int arrays, shape (n_events,)
    times : float array, shape (n_events,), unix seconds
    half_life_days : an event this many days old counts half
    """
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    times = np.asarray(times, np.float64)
    if not users.shape == items.shape == times.shape:
        raise ValueError(f"users {users.shape}, items {items.shape}, times {times.shape} differ")
    seen = times < now
    # x_ui = Σ_events 2^(-(now - t) / h): TIFU-KNN's decayed user vector, events not baskets.
    weights = decay_weights((now - times[seen]) / DAY, half_life=half_life_days)
    matrix = sp.csr_matrix((weights.astype(FLOAT), (users[seen], items[seen])), shape=shape)
    matrix.sum_duplicates()
    return matrix


def repeat_scores(
    history: sp.csr_matrix, users: np.ndarray, *, alpha: float = 1.0, neighbours: int = 0
) -> np.ndarray:
    """Dense (len(users), n_items) TIFU-KNN scores: ``alpha`` × the user's own normalised
    history + ``(1 - alpha)`` × the mean normalised history of their ``neighbours`` most
    similar shoppers (cosine of histories, the user excluded)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if neighbours < 0:
        raise ValueError(f"neighbours must be >= 0, got {neighbours}")
    users = np.asarray(users, dtype=np.int64)
    # p_u = x_u / Σ_i x_ui: each shopper's history sums to one, so the two parts share a scale.
    totals = np.asarray(history.sum(axis=1)).ravel()
    own = sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ history
    scores = alpha * own[users].toarray()
    if alpha < 1.0 and neighbours > 0:
        scores += (1.0 - alpha) * _neighbour_mean(own.tocsr(), users, neighbours)
    return scores.astype(FLOAT)


def _neighbour_mean(own: sp.csr_matrix, users: np.ndarray, k: int) -> np.ndarray:
    """Mean of ``own`` rows over each user's ``k`` nearest other users by cosine."""
    norms = np.sqrt(np.asarray(own.multiply(own).sum(axis=1)).ravel())
    unit = (sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ own).tocsr()
    out = np.zeros((users.size, own.shape[1]), dtype=np.float64)
    for start in range(0, users.size, 512):  # blocks bound the dense user × user similarity
        block = users[start : start + 512]
        similarity = (unit[block] @ unit.T).toarray()
        similarity[np.arange(block.size), block] = -np.inf
        near, weight = top_k(similarity, min(k, own.shape[0] - 1))
        valid = (near >= 0) & (weight > 0)
        rows = np.repeat(np.arange(block.size), valid.sum(axis=1))
        pick = sp.csr_matrix(
            (np.ones(rows.size), (rows, near[valid])), shape=(block.size, own.shape[0])
        )
        out[start : start + block.size] = (pick @ own).toarray() / max(k, 1)
    return out


def repeat_recommend(
    history: sp.csr_matrix,
    users: np.ndarray,
    *,
    n: int,
    alpha: float = 1.0,
    neighbours: int = 0,
    repeat_only: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores), shape (len(users), n), best first, -1 / -inf padded. ``repeat_only``:
    only items the user bought (the buy-again slot); otherwise neighbours' items join."""
    scores = repeat_scores(history, users, alpha=alpha, neighbours=neighbours)
    if repeat_only:
        scores[history[users].toarray() <= 0] = -np.inf
    else:
        scores[scores <= 0] = -np.inf
    return top_k(scores, n)
