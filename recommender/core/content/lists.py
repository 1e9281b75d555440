"""Short lists of the best items sharing each set of labels: how the neighbour search reaches
pairs with no text in common without scoring every pair."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.core.content.attributes import NO_BAND, Attributes, band_cosine
from recommender.core.kernels import pair_dots, top_per_row

# Attribute lists over shared labels hold this many × k items (see ``attribute_lists``).
_LABEL_LIST_FACTOR = 4
# Pairs expanded at once while ranking attribute lists.
_LIST_PAIRS = 4_000_000


@dataclass
class AttributeList:
    """For one label set S (``labels``: indices of its label blocks): each item's list
    (``query``, -1 none) of the best items sharing S with it, lists stored CSR-like (``ptr``,
    ``items``), and ``tail``: the best value a pool member outside the list has (0 when the
    list holds the whole pool). ``pool_ptr``, ``pool_items``, ``pool_values``: the whole pool
    of each list, best first, with values, for the rows that need more than the list."""

    labels: tuple[int, ...]
    query: np.ndarray
    ptr: np.ndarray
    items: np.ndarray
    tail: np.ndarray
    pool_ptr: np.ndarray
    pool_items: np.ndarray
    pool_values: np.ndarray

    @functools.cached_property
    def pool_keys(self) -> tuple[np.ndarray, float, float]:
        """(keys, top, width): key (pool, top - value) sorts like the pools (best first), so
        one searchsorted finds how far down its pool each row may go."""
        top = max(float(self.pool_values.max(initial=0.0)), 1.0)
        width = 2.0 * top + 2.0
        segment = np.repeat(np.arange(self.pool_ptr.size - 1), np.diff(self.pool_ptr))
        return segment * width + (top - self.pool_values), top, width


def attribute_lists(
    attributes: Attributes, a: np.ndarray, k: int, skip: int | None = None
) -> list[AttributeList]:
    """Per label set S (every subset of the label blocks without ``skip``; the empty set when
    prices count), the k + 1 best items by a_j (w_S + w_price P(band gap)) among those sharing
    S with the item.

    Items with the same labels in S and the same band share one list. Why k + 1 suffice: a pair
    (i, j) whose labels agree on exactly S, with no text in common, scores a_i a_j g_ij; if j is
    not in i's list for S, the k + 1 listed items (k without i) each score at least as much as
    j, and a higher-ranked tie, so j cannot be in i's top k. ``neighbours.neighbours`` scores
    the lists' members exactly and uses ``tail`` to bound the rest.
    """
    n = a.size
    bands = attributes.bands
    band = bands if bands is not None else np.full(n, NO_BAND, dtype=np.int64)
    band_values, band_id = np.unique(band, return_inverse=True)
    band_id = band_id.ravel()
    found = []
    for mask in range(1 << len(attributes.labels)):
        members = [b for b in range(len(attributes.labels)) if mask >> b & 1]
        if skip in members:
            continue
        w_S = sum(attributes.weights[b] for b in members)
        if members:
            codes = np.stack([attributes.labels[b] for b in members], axis=1)
            known = (codes >= 0).all(axis=1)
            group = np.full(n, -1, dtype=np.int64)
            if known.any():
                group[known] = np.unique(codes[known], axis=0, return_inverse=True)[1].ravel()
        elif bands is not None and attributes.price_weight > 0:
            group = np.where(band != NO_BAND, 0, -1)
        else:
            continue
        has = np.flatnonzero(group >= 0)
        if has.size == 0:
            continue
        # One list per (group, band) of the items that have the group.
        key = group[has] * (band_values.size + 1) + band_id[has]
        keys, inverse = np.unique(key, return_inverse=True)
        query = np.full(n, -1, dtype=np.int64)
        query[has] = inverse.ravel()
        q_group = keys // (band_values.size + 1)
        q_band = band_values[keys % (band_values.size + 1)]
        if members:
            # Pool: every member of the group, whatever its band.
            order = has[np.argsort(group[has], kind="stable")]
            group_ptr = np.concatenate([[0], np.cumsum(np.bincount(group[has]))])
            lo, hi = group_ptr[q_group], group_ptr[q_group + 1]
        else:
            # Pool: items priced within two bands (the others score 0).
            order = has[np.argsort(band[has], kind="stable")]
            sorted_band = band[order]
            lo = np.searchsorted(sorted_band, q_band - 2, side="left")
            hi = np.searchsorted(sorted_band, q_band + 2, side="right")
        # Longer lists for label sets: the tail, which bounds every pair left out, drops
        # below the k-th neighbour of more items, fewer of which then walk their pools further.
        size = max(k + 1, _LABEL_LIST_FACTOR * k) if members else k + 1
        ranked = _rank_lists(query, order, lo, hi, q_band, w_S, attributes, a, size)
        found.append(AttributeList(tuple(members), *ranked))
    return found


def _rank_lists(
    query: np.ndarray,
    order: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    q_band: np.ndarray,
    w_S: float,
    attributes: Attributes,
    a: np.ndarray,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Best ``size`` of each list's pool ``order[lo:hi]`` by a_j (w_S + w_price P), its tail
    and the whole ranked pool: the fields of ``AttributeList`` after ``labels``."""
    n = a.size
    n_lists = lo.size
    bits_col = max(int(n - 1).bit_length(), 1)
    max_rows = max(1, min(4096, 2 ** max(32 - bits_col, 0)))
    length = hi - lo
    items, counts, tail = [], np.zeros(n_lists, dtype=np.int64), np.zeros(n_lists)
    pool_items, pool_values, pool_counts = [], [], np.zeros(n_lists, dtype=np.int64)
    start = 0
    while start < n_lists:
        # As many lists as fit _LIST_PAIRS pairs (at least one) and the packed sort key.
        reach = np.searchsorted(np.cumsum(length[start:]), _LIST_PAIRS, side="right")
        stop = start + int(min(max(reach, 1), max_rows))
        pool = length[start:stop]
        rows = np.repeat(np.arange(stop - start), pool)
        offset = np.cumsum(pool) - pool
        cols = order[np.arange(pool.sum()) - np.repeat(offset - lo[start:stop], pool)]
        value = w_S
        if attributes.bands is not None:
            price = band_cosine(q_band[start:stop][rows], attributes.bands[cols])
            value = w_S + attributes.price_weight * price
        value = a[cols] * value
        positive = value > 0
        r, c, v = top_per_row(
            rows[positive],
            cols[positive],
            value[positive],
            n_rows=stop - start,
            n_cols=n,
            k=max(int(pool.max(initial=0)), size + 1),
        )
        per_list = np.bincount(r, minlength=stop - start)
        pool_items.append(c)
        pool_values.append(v.astype(np.float64))
        pool_counts[start:stop] = per_list
        rank = np.arange(r.size) - np.repeat(np.cumsum(per_list) - per_list, per_list)
        listed = rank < size
        items.append(c[listed])
        counts[start:stop] = np.minimum(per_list, size)
        tail[start + r[rank == size]] = v[rank == size]
        start = stop
    ptr = np.concatenate([[0], np.cumsum(counts)])
    pool_ptr = np.concatenate([[0], np.cumsum(pool_counts)])
    return (
        query,
        ptr,
        np.concatenate(items),
        tail,
        pool_ptr,
        np.concatenate(pool_items),
        np.concatenate(pool_values),
    )


def list_pairs(
    listed: AttributeList, attributes: Attributes, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(item, member) for each of ``items`` and each member of its list whose labels agree
    with the item's on exactly the list's label set, never the item itself. A pair agrees on
    one set only, so no pair comes from two lists."""
    query = listed.query[items]
    items, query = items[query >= 0], query[query >= 0]
    lo = listed.ptr[query]
    size = listed.ptr[query + 1] - lo
    offset = np.cumsum(size) - size
    members = listed.items[np.arange(size.sum()) - np.repeat(offset - lo, size)]
    i = np.repeat(items, size)
    keep = members != i
    for b, codes in enumerate(attributes.labels):
        same = (codes[i] == codes[members]) & (codes[i] >= 0)
        keep &= same == (b in listed.labels)
    return i[keep], members[keep]


def widen(
    lists: list[AttributeList],
    attributes: Attributes,
    a: np.ndarray,
    items: np.ndarray,
    kth: np.ndarray,
    common_norm: np.ndarray,
    X_common: sp.csr_matrix,
    known: np.ndarray,
    n: int,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For ``items`` with k-th exact score ``kth``: every pool member j (of each list's label
    set S, labels agreeing on exactly S) whose value v_j = a_j (w_S + w_price P) could still
    reach it, a_i v_j + ‖x^C_i‖ max‖x^C‖ >= kth, scored exactly unless already in ``known``
    (sorted keys i·n + j); and per item the largest value left in any pool.

    A member with a rare column in common is either among the known pairs or below the k-th
    already (its bound included the rare dot product), so x^R_i·x^R_j is taken as 0.
    """
    common_max = common_norm.max(initial=0.0)
    rest = np.zeros(items.size)
    found_rows, found_cols, found_scores = [np.empty(0, np.int64)], [np.empty(0, np.int64)], []
    found_scores.append(np.empty(0))
    # reach_i: the smallest value that could still reach the k-th (rounded down)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = ((kth - 1e-7) / (1 + 1e-5) - common_norm[items] * common_max) / a[items]
    reach = np.nan_to_num(reach, nan=np.inf, posinf=np.inf, neginf=-np.inf)
    for listed in lists:
        query = listed.query[items]
        has = np.flatnonzero(query >= 0)
        if has.size == 0:
            continue
        q = query[has]
        lo, hi = listed.pool_ptr[q], listed.pool_ptr[q + 1]
        keys, top, width = listed.pool_keys
        limit = np.clip(reach[has], -1.0, top)
        end = np.clip(np.searchsorted(keys, q * width + (top - limit), side="right"), lo, hi)
        following = np.where(end < hi, listed.pool_values[np.minimum(end, hi - 1)], 0.0)
        rest[has] = np.maximum(rest[has], following)
        size = end - lo
        offset = np.cumsum(size) - size
        position = np.arange(size.sum()) - np.repeat(offset - lo, size)
        i = np.repeat(items[has], size)
        j = listed.pool_items[position]
        keep = i != j
        for b, codes in enumerate(attributes.labels):
            same = (codes[i] == codes[j]) & (codes[i] >= 0)
            keep &= same == (b in listed.labels)
        i, j = i[keep], j[keep]
        low = a[i] * a[j] * attributes.score(i, j)
        row_kth = kth[np.searchsorted(items, i)]
        keep = (low + common_norm[i] * common_norm[j]) * (1 + 1e-5) + 1e-7 >= row_kth
        i, j, low = i[keep], j[keep], low[keep]
        new = i * n + j
        if known.size:
            at = np.minimum(np.searchsorted(known, new), known.size - 1)
            keep = known[at] != new
            i, j, low = i[keep], j[keep], low[keep]
        found_rows.append(i)
        found_cols.append(j)
        found_scores.append(low + pair_dots(X_common, i, j))
    rows, cols = np.concatenate(found_rows), np.concatenate(found_cols)
    return rest, (rows, cols, np.concatenate(found_scores))
