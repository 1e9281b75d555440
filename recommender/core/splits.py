"""Temporal train/test splits of an event log, and the train/test matrices built from one.

Offline evaluation (``evaluation``) scores models on these; a split never lets a model see
an interaction later than the ones it is tested on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import EPS


def _check_events(users: Any, items: Any, times: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    users, items, times = np.asarray(users), np.asarray(items), np.asarray(times)
    if not (users.ndim == items.ndim == times.ndim == 1):
        raise ValueError("users, items and times must be 1-D arrays")
    if not (users.shape == items.shape == times.shape):
        raise ValueError(
            f"users, items and times must have one entry per interaction, got lengths "
            f"{users.size}, {items.size}, {times.size}"
        )
    return users, items, times


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1), got {fraction}")


def global_temporal_split(
    users: Any, items: Any, times: Any, test_fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the last ``test_fraction`` of all interactions by time.

    The cut is a point in time: with ``n_test = floor(test_fraction * n)``, the cutoff is the
    time of the ``n_test``-th latest interaction and every interaction at or after it is test.
    Ties at the cutoff (one invoice, one timestamp) therefore stay together, so the test share
    can be slightly above ``test_fraction``.

    Parameters
    ----------
    users, items : int arrays, shape (n,)
        Who interacted with what (only their lengths are checked here).
    times : array, shape (n,)
        Any orderable timestamps (int seconds, float, datetime64).
    test_fraction : float in [0, 1)

    Returns
    -------
    train_idx, test_idx : int64 arrays
        Sorted positions into the input arrays; together they cover ``range(n)`` exactly once.
    """
    users, items, times = _check_events(users, items, times)
    _check_fraction(test_fraction)
    n = times.size
    n_test = int(np.floor(test_fraction * n + EPS))
    if n_test == 0:
        return np.arange(n, dtype=np.int64), np.empty(0, dtype=np.int64)
    cutoff = np.sort(times, kind="stable")[n - n_test]
    is_test = times >= cutoff
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)


def per_user_temporal_split(
    users: Any, items: Any, times: Any, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out each user's last ``floor(test_fraction * n_u)`` interactions by time.

    Users with fewer than ``1 / test_fraction`` interactions keep everything in training.
    Equal timestamps are ordered by their position in the input (stable), so the split is
    deterministic.

    Parameters
    ----------
    users : int array, shape (n,)
    items : int array, shape (n,)
    times : array, shape (n,)
    test_fraction : float in [0, 1)

    Returns
    -------
    train_idx, test_idx : int64 arrays
        Sorted positions into the input arrays.
    """
    users, items, times = _check_events(users, items, times)
    _check_fraction(test_fraction)
    n = users.size
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    # Sort by user, then time, then input position: rank_u is the event's place in its history.
    order = np.lexsort((np.arange(n), times, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, counts)
    count = np.repeat(counts, counts)
    n_test = np.floor(test_fraction * count + EPS).astype(np.int64)
    is_test = np.empty(n, dtype=bool)
    is_test[order] = rank >= count - n_test
    return np.flatnonzero(~is_test).astype(np.int64), np.flatnonzero(is_test).astype(np.int64)


def validation_split(
    users: Any,
    items: Any,
    times: Any,
    train_idx: Any,
    *,
    method: str = "per_user",
    fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation set out of the training interactions only, the same way as the test.

    Tuning on the result never touches the test set: the returned positions are a partition
    of ``train_idx``.

    Parameters
    ----------
    users, items, times : arrays, shape (n,)
        All interactions (the same arrays the test split was made from).
    train_idx : int array, shape (n_train,)
        Training positions from ``global_temporal_split`` or ``per_user_temporal_split``.
    method : {"per_user", "global"}
    fraction : float in [0, 1)
        Share of the training interactions (per user or overall) that become validation.

    Returns
    -------
    fit_idx, validation_idx : int64 arrays
        Positions into the full input arrays (not into ``train_idx``), sorted.
    """
    users, items, times = _check_events(users, items, times)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    splitters = {"per_user": per_user_temporal_split, "global": global_temporal_split}
    if method not in splitters:
        raise ValueError(f"method must be one of {sorted(splitters)}, got {method!r}")
    fit, val = splitters[method](users[train_idx], items[train_idx], times[train_idx], fraction)
    return np.sort(train_idx[fit]), np.sort(train_idx[val])


@dataclass(frozen=True)
class SplitMatrices:
    """Train and test matrices over one compact index space.

    ``train`` and ``test`` have shape (n_users, n_items) where users and items are those present
    in training; ``user_ids[u]`` / ``item_ids[i]`` give the original dense id of row/column.
    Test interactions of users or items unseen in training are dropped (``n_cold_dropped``):
    no collaborative model can score them, so they would only add the same noise to every row.
    """

    train: sp.csr_matrix
    test: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    n_cold_dropped: int


def split_matrices(
    users: Any, items: Any, values: Any, train_idx: Any, test_idx: Any
) -> SplitMatrices:
    """Build float32 CSR train/test matrices from a split; duplicate pairs are summed.

    Parameters
    ----------
    users, items : int arrays, shape (n,)
        Dense non-negative ids.
    values : float array, shape (n,)
        Interaction weights (1 for binary implicit data). Test matrix keeps the same values.
    train_idx, test_idx : int arrays
        Positions into the arrays, e.g. from ``per_user_temporal_split``.
    """
    users, items, values = np.asarray(users), np.asarray(items), np.asarray(values)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    test_idx = np.asarray(test_idx, dtype=np.int64)
    user_ids, train_rows = np.unique(users[train_idx], return_inverse=True)
    item_ids, train_cols = np.unique(items[train_idx], return_inverse=True)
    shape = (user_ids.size, item_ids.size)
    train = sp.csr_matrix(
        (values[train_idx].astype(np.float32), (train_rows, train_cols)), shape=shape
    )
    test_rows = _lookup(user_ids, users[test_idx])
    test_cols = _lookup(item_ids, items[test_idx])
    warm = (test_rows >= 0) & (test_cols >= 0)
    test = sp.csr_matrix(
        (values[test_idx][warm].astype(np.float32), (test_rows[warm], test_cols[warm])),
        shape=shape,
    )
    train.sum_duplicates()
    test.sum_duplicates()
    return SplitMatrices(train, test, user_ids, item_ids, int((~warm).sum()))


def _lookup(sorted_ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in ``sorted_ids``, -1 when absent."""
    if sorted_ids.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    position = np.searchsorted(sorted_ids, values)
    position[position == sorted_ids.size] = 0
    return np.where(sorted_ids[position] == values, position, -1).astype(np.int64)
