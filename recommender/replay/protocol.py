"""The replay's split, numbers only: the reference scorer's ``global`` protocol
(``../shared/eval/evaluate.py``), reproduced exactly so both score the same shoppers and items.

Each (user, item) pair is kept at its first event; pairs are ordered by (time, user, item),
where user and item codes must sort as the raw ids do (the reference's ``np.unique`` codes);
the last ``test_fraction`` of pairs is test, the pair at the cut position gives the cut time.
Scored users have at least one training pair and one test pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

TEST_FRACTION = 0.1  # evaluate.py's GLOBAL_TEST_FRAC


@dataclass(frozen=True)
class Split:
    """Binary users × items matrices of first-event pairs, and the users scored."""

    train: sp.csr_matrix
    test: sp.csr_matrix
    train_times: sp.csr_matrix  # each training pair's first time (a validation split's input)
    eval_users: np.ndarray  # sorted user codes with >= 1 train and >= 1 test pair
    cut: float  # seconds: the first test pair's time (the clock serving replays at)
    n_pairs: int
    n_train_pairs: int
    n_cold_test_users: int  # test users with no training pair (counted, not scored)


def validation_split(split: Split, *, test_fraction: float = TEST_FRACTION) -> Split:
    """The same protocol applied to ``split``'s training pairs (evaluate.py's ``inner_split``):
    what a baseline is tuned on, never the test."""
    times = split.train_times.tocoo()
    return global_split(
        times.row,
        times.col,
        times.data,
        n_users=split.train.shape[0],
        n_items=split.train.shape[1],
        test_fraction=test_fraction,
    )


def first_pairs(
    users: np.ndarray, items: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each (user, item) pair once, at its earliest time."""
    order = np.lexsort((times, items, users))
    u, i, t = users[order], items[order], times[order]
    first = np.ones(u.size, dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    return u[first], i[first], t[first]


def global_split(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    *,
    n_users: int,
    n_items: int,
    test_fraction: float = TEST_FRACTION,
    cut: float | None = None,
) -> Split:
    """The split of events (``users``/``items`` codes ordered like the raw ids, ``times`` in
    seconds): the last ``test_fraction`` of first-event pairs by (time, user, item), or, with
    ``cut``, the pairs first seen at or after ``cut``."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    u, i, t = first_pairs(
        np.asarray(users, np.int64), np.asarray(items, np.int64), np.asarray(times, np.float64)
    )
    if u.size == 0:
        raise ValueError("no events to split")
    if cut is None:
        order = np.lexsort((i, u, t))
        position = int(np.floor((1 - test_fraction) * u.size))
        if position >= u.size:
            raise ValueError("too few events: the test part would be empty")
        is_test = np.zeros(u.size, dtype=bool)
        is_test[order[position:]] = True
        cut = float(t[order[position]])
    else:
        is_test = t >= cut
    shape = (n_users, n_items)
    ones = np.ones(u.size, dtype=np.float32)
    train = sp.csr_matrix((ones[~is_test], (u[~is_test], i[~is_test])), shape=shape)
    test = sp.csr_matrix((ones[is_test], (u[is_test], i[is_test])), shape=shape)
    train_times = sp.csr_matrix((t[~is_test], (u[~is_test], i[~is_test])), shape=shape)
    n_train, n_test = np.diff(train.indptr), np.diff(test.indptr)
    return Split(
        train=train,
        test=test,
        train_times=train_times,
        eval_users=np.flatnonzero((n_train > 0) & (n_test > 0)),
        cut=cut,
        n_pairs=int(u.size),
        n_train_pairs=int((~is_test).sum()),
        n_cold_test_users=int(((n_test > 0) & (n_train == 0)).sum()),
    )
