"""Id maps and the weighted user-item interaction matrix.

``IdIndex`` turns external ids (product or shopper primary keys, ints or strings) into the
dense ``0..n-1`` indices the algorithms use, and back. ``build_interaction_matrix`` turns raw
event arrays into one float32 CSR matrix of shape (n_users, n_items): every event contributes
``kind_weight * transform(value) * decay(age)`` to its (user, item) cell.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from recommender.core.checks import check_ids

FLOAT = np.float32
SECONDS_PER_DAY = 86_400.0


class IdIndex:
    """A bijection between external ids and dense indices ``0..len-1``.

    Parameters
    ----------
    ids : array-like, shape (n,)
        External ids, ints or strings. Index ``k`` is the ``k``-th distinct id in order of first
        appearance, so a caller who passes ids in catalog order keeps that order. Duplicates are
        dropped (the first occurrence wins).
    """

    def __init__(self, ids: Any) -> None:
        array = _as_id_array(ids)
        _, first = np.unique(array, return_index=True)
        self._ids = array[np.sort(first)]
        # Lookups binary-search a sorted copy: O(log n) per id, vectorised over the query.
        self._sorter = np.argsort(self._ids, kind="stable")
        self._sorted = self._ids[self._sorter]

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"IdIndex({len(self)} ids, dtype={self._ids.dtype})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdIndex):
            return NotImplemented
        return self._ids.dtype.kind == other._ids.dtype.kind and np.array_equal(
            self._ids, other._ids
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: not hashable

    @property
    def ids(self) -> np.ndarray:
        """External ids in index order, shape (n,) (read-only view)."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    def to_index(self, ids: Any, *, strict: bool = False) -> np.ndarray:
        """Dense indices of external ``ids``.

        Unknown ids map to ``-1`` by default: at serving time a shopper's recent events may name
        products added after training, and those should be skipped, not fail the request.
        Pass ``strict=True`` to raise ``ValueError`` instead (training: every id must be known).

        Parameters
        ----------
        ids : array-like, shape (m,) or scalar

        Returns
        -------
        int64 array, shape (m,)
        """
        query = np.atleast_1d(np.asarray(ids))
        if query.ndim != 1:
            raise ValueError(f"ids must be 1-D, got shape {query.shape}")
        out = np.full(query.shape[0], -1, dtype=np.int64)
        if query.size == 0 or len(self) == 0:
            if strict and query.size:
                raise ValueError(f"unknown ids (index is empty): {query[:5].tolist()}")
            return out
        query = self._coerce_query(query)
        position = np.searchsorted(self._sorted, query)
        position[position == len(self)] = 0
        found = self._sorted[position] == query
        out[found] = self._sorter[position[found]]
        if strict and not found.all():
            unknown = query[~found]
            raise ValueError(f"{unknown.size} unknown ids, e.g. {unknown[:5].tolist()}")
        return out

    def to_external(self, indices: Any) -> np.ndarray:
        """External ids of dense ``indices`` (shape preserved); raises ``ValueError`` when out
        of range (``-1`` included: filter padding before mapping)."""
        array = np.asarray(indices)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {array.dtype}")
        if array.size and (array.min() < 0 or array.max() >= len(self)):
            raise ValueError(
                f"indices must lie in [0, {len(self)}), got range [{array.min()}, {array.max()}]"
            )
        return self._ids[array]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ids as one ``.npy`` (int64 or unicode, never pickled) at exactly ``path``."""
        path = Path(path)
        with open(path, "wb") as fh:  # np.save on a str path would append ".npy"
            np.save(fh, self._ids, allow_pickle=False)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IdIndex:
        """Read ``save`` output."""
        return cls(np.load(path, allow_pickle=False))

    def _coerce_query(self, query: np.ndarray) -> np.ndarray:
        kind, query_kind = self._ids.dtype.kind, query.dtype.kind
        if kind == "U":
            if query_kind not in "UOiu":
                raise ValueError(f"ids are strings; cannot look up dtype {query.dtype}")
            return query.astype(str)
        if query_kind == "O":
            query = _as_id_array(query)
            query_kind = query.dtype.kind
        if query_kind not in "iu":
            raise ValueError(f"ids are integers; cannot look up dtype {query.dtype}")
        return query.astype(np.int64)


def _as_id_array(ids: Any) -> np.ndarray:
    """Ids as int64 or a numpy unicode array (never object dtype, so they save without pickle)."""
    array = np.atleast_1d(np.asarray(ids))
    if array.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {array.shape}")
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "U":
        return array
    if array.dtype.kind == "O":
        if all(isinstance(x, (int, np.integer)) for x in array):
            return array.astype(np.int64)
        if all(isinstance(x, str) for x in array):
            return array.astype(str)
    raise ValueError(f"ids must be integers or strings, got dtype {array.dtype}")


ValueTransform = Literal["log1p", "none", "binary"]
Dedupe = Literal["sum", "max"]


def build_interaction_matrix(
    users: Any,
    items: Any,
    kinds: Any,
    values: Any = None,
    times: Any = None,
    *,
    kind_weights: dict[str, float],
    value_transform: ValueTransform = "none",
    half_life_days: float | None = None,
    now: float | np.datetime64 | datetime | None = None,
    n_users: int,
    n_items: int,
    dedupe: Dedupe = "sum",
) -> sp.csr_matrix:
    """Weighted interaction matrix from raw events, fully vectorised.

    Each event ``e`` contributes ``w_e = kind_weights[kind_e] * t(value_e) * 2 ** (-age_e / h)``
    where ``t`` is the value transform, ``age_e = max(now - time_e, 0)`` in days and ``h`` the
    half-life. Events whose weight is 0 (kind weight 0, value 0) are dropped.

    Parameters
    ----------
    users, items : int arrays, shape (n_events,)
        Dense indices (see ``IdIndex.to_index``); ``-1`` or out-of-range raises ``ValueError``.
    kinds : str array, shape (n_events,)
        Event kinds; each must be a key of ``kind_weights``.
    values : float array, shape (n_events,), optional
        Event values (quantity, rating). ``None`` or NaN entries mean "no value" and count as 1.
    times : float seconds since the epoch or datetime64 array, shape (n_events,), optional
        Required when ``half_life_days`` is given.
    kind_weights : dict
        Weight per event kind, e.g. ``{"view": 1, "add_to_cart": 3, "purchase": 5}``.
    value_transform : {"none", "log1p", "binary"}
        ``none`` uses values as they are; ``log1p`` damps large quantities (ten units are not
        ten times the interest); ``binary`` keeps only whether the value is positive.
    half_life_days : float, optional
        Exponential time decay: an event this many days old counts half. ``None`` disables it.
    now : float seconds, datetime64 or datetime, optional
        The reference time for ages; passed in rather than read from a clock so results are
        reproducible.
    n_users, n_items : int
        Matrix shape.
    dedupe : {"sum", "max"}
        How repeated (user, item) events combine. ``sum`` (the default) treats repetition as
        stronger interest (five views outweigh one); ``max`` keeps the single strongest event,
        so repeated clicks cannot outweigh one purchase.

    Returns
    -------
    csr_matrix, float32, shape (n_users, n_items), sorted indices, no explicit zeros.
    """
    users = _index_array(users, upper=n_users, name="users")
    items = _index_array(items, upper=n_items, name="items")
    n_events = users.shape[0]
    if items.shape[0] != n_events:
        raise ValueError(f"users has {n_events} events, items has {items.shape[0]}")
    # Checked even without values: a typo in the setting must fail now, not on the day a
    # value first arrives.
    _check_transform(value_transform)
    weights = _kind_weights(kinds, kind_weights, n_events)
    if values is not None:
        weights *= event_values(values, value_transform, n_events)
    if half_life_days is not None:
        # "not > 0" also refuses NaN, which would make every weight NaN and drop every event.
        if not half_life_days > 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days}")
        if times is None or now is None:
            raise ValueError("half_life_days needs both times and now")
        now_seconds = _seconds(now)
        if not np.isfinite(now_seconds):
            raise ValueError(f"now must be a finite time, got {now!r}")
        age_days = np.maximum(now_seconds - event_seconds(times, n_events), 0.0) / SECONDS_PER_DAY
        # decay = 2^(-age / h): exactly 1/2 at one half-life.
        weights *= np.exp2(-age_days / half_life_days)
    if dedupe not in ("sum", "max"):
        raise ValueError(f"dedupe must be 'sum' or 'max', got {dedupe!r}")
    keep = weights > 0
    users, items, weights = users[keep], items[keep], weights[keep].astype(FLOAT)
    if dedupe == "max":
        users, items, weights = _reduce_pairs(users, items, weights, n_items, np.maximum)
    # The COO -> CSR conversion sums duplicates (already unique for "max").
    matrix = sp.csr_matrix((weights, (users, items)), shape=(n_users, n_items), dtype=FLOAT)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def last_interaction_times(
    users: Any, items: Any, times: Any, *, n_users: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The latest time of each distinct (user, item) pair, for time-based evaluation splits.

    Returns
    -------
    users, items : int64 arrays, shape (n_pairs,), sorted by user then item
    last_times : float64 seconds since the epoch, shape (n_pairs,) (float64: float32 would
        round present-day timestamps to about two minutes)
    """
    users = _index_array(users, upper=n_users, name="users")
    items = _index_array(items, upper=n_items, name="items")
    seconds = np.atleast_1d(_seconds(times))
    if not users.shape == items.shape == seconds.shape:
        raise ValueError("users, items and times must have the same length")
    return _reduce_pairs(users, items, seconds, n_items, np.maximum)


def _reduce_pairs(
    users: np.ndarray, items: np.ndarray, values: np.ndarray, n_items: int, ufunc: np.ufunc
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Combine values of repeated (user, item) pairs with ``ufunc.reduceat`` after one sort."""
    if users.size == 0:
        return users, items, values
    key = users * np.int64(n_items) + items
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    reduced = ufunc.reduceat(values[order], starts)
    unique = key[starts]
    return unique // n_items, unique % n_items, reduced


def _index_array(values: Any, *, upper: int, name: str) -> np.ndarray:
    return check_ids(
        values,
        upper=upper,
        name=name,
        hint="drop ids unknown to the IdIndex (-1) before building the matrix",
    )


def _kind_weights(kinds: Any, kind_weights: dict[str, float], n_events: int) -> np.ndarray:
    kinds = np.atleast_1d(np.asarray(kinds))
    if kinds.shape != (n_events,):
        raise ValueError(f"kinds must have shape ({n_events},), got {kinds.shape}")
    weights = np.zeros(n_events, dtype=np.float64)
    known = np.zeros(n_events, dtype=bool)
    # One comparison pass per kind (a handful) is far cheaper than np.unique over 5M strings.
    for kind, weight in kind_weights.items():
        check_kind_weight(kind, weight)
        hit = kinds == kind
        weights[hit] = weight
        known |= hit
    if not known.all():
        unknown = np.unique(kinds[~known])[:5].tolist()
        raise ValueError(f"event kinds without a weight in kind_weights: {unknown}")
    return weights


def check_kind_weight(kind: str, weight: float) -> None:
    """Raise ``ValueError`` unless an event kind's weight is finite and >= 0."""
    if not np.isfinite(weight) or weight < 0:
        raise ValueError(f"kind weight for {kind!r} must be finite and >= 0, got {weight}")


_TRANSFORMS = ("none", "log1p", "binary")


def _check_transform(transform: str) -> None:
    if transform not in _TRANSFORMS:
        raise ValueError(f"value_transform must be 'none', 'log1p' or 'binary', got {transform!r}")


def transform_values(values: Any, transform: str) -> np.ndarray:
    """Event values under the matrix's ``value_transform``; NaN means "no value" and counts 1.

    Public so the serving layer weighs a shopper's live events exactly as training did.
    """
    _check_transform(transform)
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    values = np.where(np.isnan(values), 1.0, values)
    if np.isinf(values).any() or (values < 0).any():
        raise ValueError("values must be finite and >= 0 (NaN means 'no value')")
    if transform == "none":
        return values
    if transform == "log1p":
        return np.log1p(values)
    return (values > 0).astype(np.float64)  # "binary", the one transform left


def event_values(values: Any, transform: str, n_events: int) -> np.ndarray:
    """``transform_values`` of ``n_events`` event values, their shape checked."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if values.shape != (n_events,):
        raise ValueError(f"values must have shape ({n_events},), got {values.shape}")
    return transform_values(values, transform)


def event_seconds(times: Any, n_events: int) -> np.ndarray:
    """Event times as float64 seconds, shape (n_events,); ``ValueError`` naming the first
    NaN / NaT / infinite one, since its weight would silently become NaN and the event vanish."""
    seconds = np.atleast_1d(np.asarray(_seconds(times), dtype=np.float64))
    if seconds.shape != (n_events,):
        raise ValueError(f"times must have shape ({n_events},), got {seconds.shape}")
    bad = np.flatnonzero(~np.isfinite(seconds))
    if bad.size:
        raise ValueError(
            f"times must be finite: {bad.size} of {n_events} events have no usable time "
            f"(NaN, NaT or infinite), the first at position {bad[0]}"
        )
    return seconds


def _seconds(times: Any) -> np.ndarray | float:
    """Seconds since the epoch (float64) from floats, datetime64 arrays or a datetime."""
    if isinstance(times, datetime):
        return times.timestamp()
    array = np.asarray(times)
    if array.dtype.kind == "M":
        # NaT would cast to the smallest int64 (a date 292 million years ago): make it NaN.
        seconds = array.astype("datetime64[ms]").astype(np.int64) / 1000.0
        return np.where(np.isnat(array), np.nan, seconds)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"times must be seconds or datetime64, got dtype {array.dtype}")
    return array.astype(np.float64)
