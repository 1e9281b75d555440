"""The errors the core raises and the input checks every algorithm shares.

Ids are dense integer indices (see ``recommender.core.matrix.IdIndex`` for the mapping to
external ids).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT


class FitError(RuntimeError):
    """Training produced unusable parameters (NaN/inf factors, diverged loss)."""


class NotFittedError(RuntimeError):
    """An algorithm was asked to score before ``fit`` or ``load``."""


def check_user_items(user_items: Any, *, n_items: int | None = None) -> sp.csr_matrix:
    """Return ``user_items`` as float32 CSR with each (user, item) stored once (repeats summed),
    or raise ``ValueError`` saying what is wrong. The caller's matrix is never modified."""
    if not sp.issparse(user_items):
        raise ValueError(
            f"user_items must be a scipy.sparse matrix of shape (n_users, n_items), "
            f"got {type(user_items).__name__}"
        )
    if user_items.ndim != 2:
        raise ValueError(f"user_items must be 2-D, got {user_items.ndim}-D")
    if n_items is not None and user_items.shape[1] != n_items:
        raise ValueError(
            f"user_items has {user_items.shape[1]} item columns, the model was fitted on {n_items}"
        )
    matrix = sp.csr_matrix(user_items, dtype=FLOAT)
    if not matrix.has_canonical_format:
        # A repeated (user, item) entry counts twice in every sum over stored values (popularity
        # counts, item norms), so it is summed here for every model; on a copy, because
        # sum_duplicates sorts in place and the arrays may still be the caller's.
        matrix = matrix.copy()
        matrix.sum_duplicates()
    if matrix.nnz and not np.all(np.isfinite(matrix.data)):
        raise ValueError("user_items contains NaN or infinite weights")
    if matrix.nnz and matrix.data.min() < 0:
        raise ValueError("user_items weights must be non-negative")
    return matrix


def check_ids(ids: Any, *, upper: int, name: str, hint: str = "") -> np.ndarray:
    """Return ``ids`` as a 1-D int64 array within ``[0, upper)`` or raise ``ValueError``
    (``hint`` ends the out-of-range message: what the caller should do about it)."""
    array = np.atleast_1d(np.asarray(ids))
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of integer indices")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer indices, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < 0 or array.max() >= upper):
        raise ValueError(
            f"{name} must lie in [0, {upper}), got range [{array.min()}, {array.max()}]"
            + (f"; {hint}" if hint else "")
        )
    return array


def check_item_id(item_id: Any, *, upper: int, name: str = "item_id") -> int:
    """Return one item index within ``[0, upper)`` as an int, or raise ``ValueError``.

    ``int(item_id)`` alone lets -1 index the last item and a float slip through truncated.
    """
    array = np.asarray(item_id)
    if array.ndim != 0 and array.size != 1:
        raise ValueError(f"{name} must be a single integer index, got {array.size} values")
    return int(check_ids(array.reshape(1), upper=upper, name=name)[0])


def check_weights(weights: Any, *, length: int, non_negative: bool = False) -> np.ndarray:
    """Return ``weights`` as float32 of ``length`` (ones when None) or raise ``ValueError``.

    ``non_negative`` also refuses weights below 0: a shopper's (item, weight) pairs are event
    weights, and a negative one makes fold-in systems indefinite (ALS's Cholesky fails).
    """
    if weights is None:
        return np.ones(length, dtype=FLOAT)
    array = np.asarray(weights, dtype=FLOAT).ravel()
    if array.shape[0] != length:
        raise ValueError(f"weights has {array.shape[0]} entries for {length} item ids")
    if not np.all(np.isfinite(array)):
        raise ValueError("weights must be finite")
    if non_negative and array.size and array.min() < 0:
        raise ValueError("user_items weights must be non-negative")
    return array


def check_finite(name: str, array: np.ndarray) -> None:
    """Raise ``FitError`` when a learned array holds NaN or infinity."""
    if not np.all(np.isfinite(array)):
        raise FitError(
            f"{name} contains NaN or infinite values; "
            "lower the learning rate or raise regularization"
        )


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` naming the first of ``values`` (counts, sizes) below 1."""
    for key, value in values.items():
        if int(value) < 1:
            raise ValueError(f"{key} must be >= 1, got {value}")
