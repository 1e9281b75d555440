"""A dataset's test split and the validation folds carved from its training part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from bench.datasets import Interactions
from recommender.core.splits import (
    SplitMatrices,
    global_temporal_split,
    per_user_temporal_split,
    split_matrices,
    validation_split,
)

SPLITS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], float]] = {
    "per_user": (per_user_temporal_split, 0.2),
    "global": (global_temporal_split, 0.1),
}


@dataclass(frozen=True)
class Prepared:
    """A split's matrices plus each training pair's age in days (same sparsity as ``train``)."""

    matrices: SplitMatrices
    ages: sp.csr_matrix

    @property
    def train(self) -> sp.csr_matrix:
        return self.matrices.train

    @property
    def test(self) -> sp.csr_matrix:
        return self.matrices.test


def _prepare(data: Interactions, train_idx: np.ndarray, test_idx: np.ndarray) -> Prepared:
    matrices = split_matrices(data.users, data.items, data.values, train_idx, test_idx)
    # +1 day keeps the newest pair's age non-zero, so it survives as a stored entry.
    ages = (data.times[train_idx].max() - data.times) / 86_400.0 + 1.0
    aged = split_matrices(data.users, data.items, ages, train_idx, test_idx).train
    if not np.array_equal(aged.indices, matrices.train.indices):
        raise ValueError("duplicate (user, item) pairs: ages need one interaction per pair")
    aged.data -= 1.0
    return Prepared(matrices, aged)


def make_split(data: Interactions, split: str) -> Prepared:
    splitter, fraction = SPLITS[split]
    return _prepare(data, *splitter(data.users, data.items, data.times, fraction))


# A validation fold with few shoppers makes tuning a lottery: the global split of ML
# latest-small leaves 20 (its windows are mostly first-time raters, dropped as cold), and its
# coverage tops out at 200 distinct items. Folds are added until this many shoppers are scored.
MIN_VALIDATION_USERS = 100
MAX_VALIDATION_FOLDS = 5


def scored_users(prepared: Prepared) -> int:
    """Shoppers ``evaluate`` scores: a held-out pair and at least one training row."""
    return int(((np.diff(prepared.test.indptr) > 0) & (np.diff(prepared.train.indptr) > 0)).sum())


def make_validations(data: Interactions, split: str) -> list[Prepared]:
    """Validation folds carved from the training part only, by the same method as the test split.

    The first fold holds out the latest ``fraction`` of training (globally or per user) and fits
    on the rest. While the folds together score fewer than ``MIN_VALIDATION_USERS`` shoppers,
    the next fold repeats the carve on the previous fold's fitting part (a rolling origin, one
    window further back), up to ``MAX_VALIDATION_FOLDS``. Nothing at or after the test split's
    cut is ever used.
    """
    splitter, fraction = SPLITS[split]
    fit_idx, _ = splitter(data.users, data.items, data.times, fraction)
    folds: list[Prepared] = []
    scored = 0
    while len(folds) < MAX_VALIDATION_FOLDS and scored < MIN_VALIDATION_USERS:
        fit_idx, val_idx = validation_split(
            data.users, data.items, data.times, fit_idx, method=split, fraction=fraction
        )
        folds.append(_prepare(data, fit_idx, val_idx))
        scored += scored_users(folds[-1])
    return folds
