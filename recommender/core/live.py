"""Weights of a shopper's latest events as serving scores them, and which events those are.

The training holdout calls the same functions, so the quality a run reports is that of the
rows shoppers are scored from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommender.core.matrix import check_kind_weight, event_seconds, event_values

SECONDS_PER_HOUR = 3_600.0


def live_event_weights(
    kinds: Any,
    values: Any,
    times: Any,
    *,
    kind_weights: dict[str, float],
    value_transform: str,
    half_life_hours: float,
    users: Any = None,
) -> np.ndarray:
    """Weight of each event as serving scores a shopper from their latest events.

    ``w_e = kind_weights[kind_e] * t(value_e) * 2 ** (-(newest_u - time_e) / h)``, where
    ``newest_u`` is the newest event of the same user (of all events when ``users`` is None: one
    shopper's request). Ages count from the shopper's own newest event, not a clock, so a shopper
    back after a month still has a "latest session". Serving and the training holdout both call
    this, so the quality a run reports is that of the rows shoppers are scored from.

    Parameters
    ----------
    kinds : str array, shape (n,)
        Kinds without a weight weigh 0 (a live event of a kind the settings do not list).
    values : float array, shape (n,)
        NaN means "no value" (counts 1 before the transform).
    times : float seconds since the epoch, shape (n,)
    half_life_hours : float
        An event this many hours older than the shopper's newest counts half.
    users : int array, shape (n,), optional

    Returns
    -------
    float64 array, shape (n,)
    """
    if not half_life_hours > 0:
        raise ValueError(f"half_life_hours must be positive, got {half_life_hours}")
    kinds = np.atleast_1d(np.asarray(kinds))
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    n = times.shape[0]
    if kinds.shape != (n,):
        raise ValueError(f"kinds must have shape ({n},), got {kinds.shape}")
    # A NaN time would make the shopper's newest time NaN and so every one of their weights.
    times = event_seconds(times, n)
    weights = np.zeros(n, dtype=np.float64)
    for kind, weight in kind_weights.items():
        check_kind_weight(kind, weight)
        weights[kinds == kind] = weight
    weights *= event_values(values, value_transform, n)
    if n == 0:
        return weights
    if users is None:
        newest: np.ndarray | float = times.max()
    else:
        users = np.atleast_1d(np.asarray(users))
        if users.shape != (n,):
            raise ValueError(f"users must have shape ({n},), got {users.shape}")
        _, inverse = np.unique(users, return_inverse=True)
        latest = np.full(int(inverse.max()) + 1, -np.inf)
        np.maximum.at(latest, inverse, times)
        newest = latest[inverse]
    return weights * np.exp2((times - newest) / (half_life_hours * SECONDS_PER_HOUR))


def latest_per_user(users: Any, times: Any, limit: int) -> np.ndarray:
    """Positions of each user's ``limit`` newest events (later positions win ties), sorted.

    What a serving request reads (the shopper's ``limit`` latest events), for a batch of users.
    """
    users = np.atleast_1d(np.asarray(users))
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if users.shape != times.shape:
        raise ValueError("users and times must have the same length")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    n = users.size
    # Newest first within each user: rank 0 is the newest event.
    order = np.lexsort((-np.arange(n), -times, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]]) if n else order
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.sort(order[rank < limit]).astype(np.int64)
