"""Exact top-k content neighbours without forming the n × n cosine matrix.

The scheme is laid out in ``neighbours``; ``tests/core/test_content.py`` checks it against the
dense product on catalogues where every shortcut is taken.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from recommender.core.content.attributes import Attributes
from recommender.core.content.lists import attribute_lists, list_pairs, widen
from recommender.core.kernels import FLOAT, flop_blocks, pair_dots, row_norms, top_per_row
from recommender.core.ranking import top_k

# Dense rows per block where a row is computed in full: block × n_items float32 stays ~16 MB.
_BLOCK_CELLS = 4_000_000
# Up to this many items every row is ranked densely: below ~10k products that is the faster way.
_ALL_DENSE_ITEMS = 8_000
# The sparse product covers the rarer text columns, Σ df² <= this × n_items multiply-adds; the
# most widespread columns (low idf) are bounded instead (see ``neighbours``).
_RARE_FLOPS_PER_ITEM = 3_000
# The label scored exactly within its groups (see ``neighbours``) is the heaviest one
# whose groups hold at most this many × n_items pairs.
_SCOPE_PAIRS_PER_ITEM = 4_000


def neighbours(
    vectors: sp.csr_matrix,
    sparse_columns: np.ndarray,
    attributes: Attributes,
    scale: np.ndarray,
    n_neighbors: int,
) -> sp.csr_matrix:
    """Top ``n_neighbors`` cosines per item (positive only, never the item itself).

    The cosine of unit vectors v_i = a_i·[x̃_i, attribute blocks] splits as

        s_ij = x_i·x_j + a_i a_j g_ij,    g_ij = Σ_L w_L [L_i = L_j] + w_price P(|Δband|)

    with x_i = a_i x̃_i the text and feature columns, a_i = 1 / ‖unnormalised v_i‖ and
    P = 1, 2/3, 1/6, 0 for band gaps 0, 1, 2, >= 3. Nothing n × n is formed:

    * the *scope*: every pair sharing the heaviest label (the category, by default) is
      scored exactly, group by group (a sparse text product plus g_ij from the codes).
      That is where most neighbours are, and the pairs closest to the k-th one: on the
      synthetic 50k catalogue no bound separated them, so half the rows went dense;
    * pairs sharing a *rare* text column (all but the most widespread ones, chosen so that
      Σ df² stays within ``_RARE_FLOPS_PER_ITEM`` × n_items) come from a blocked sparse
      product; each is bounded first (its rare dot product, the most g_ij can be outside
      the scope, then g_ij itself and ‖x^C_i‖ ‖x^C_j‖ for the common columns) and scored
      exactly only if it could reach the k-th exact score found so far;
    * the other label sets S come from short lists (``attribute_lists``) of the best
      items sharing S; members whose labels agree with the item's on exactly S are bounded
      the same way (a_i a_j g_ij + ‖x^C_i‖ ‖x^C_j‖: the ones with a rare column in common
      are the pairs above) and scored exactly if they could reach the k-th;
    * every other pair is bounded by Cauchy-Schwarz on the common columns plus the tail of
      the attribute list of its own label set (see ``bound``).

    An item whose k-th neighbour cannot be proved above that bound has its row computed
    densely, so the result is exact either way.
    """
    n_items = vectors.shape[0]
    k = min(n_neighbors, n_items - 1)
    if k < 1:
        return sp.csr_matrix((n_items, n_items), dtype=FLOAT)
    if n_items <= _ALL_DENSE_ITEMS:
        rows, cols, vals = _dense_neighbours(vectors, np.arange(n_items), k)
        return _assemble(rows, cols, vals, n_items)
    X = vectors[:, sparse_columns].tocsr()
    a = scale
    rare, common = _split_by_spread(X, _RARE_FLOPS_PER_ITEM * n_items)
    X_rare, X_common = X[:, rare].tocsr(), X[:, common].tocsr()
    common_norm = row_norms(X_common)
    scope = _scope_label(attributes, n_items)
    lists = attribute_lists(attributes, a, k, skip=scope)
    tail = np.zeros(n_items)
    for found in lists:
        has = found.query >= 0
        tail[has] = np.maximum(tail[has], found.tail[found.query[has]])
    # Every pair outside the candidates scores at most this: no rare column in common, no
    # scope label in common, and below the tail of the list of its own label set.
    bound = common_norm * common_norm.max(initial=0.0) + a * tail
    exact = _scope_pairs(X, attributes, a, k, scope)
    # Most g_ij a pair outside the scope can get: every other label and the same band.
    g_out = sum(w for b, w in enumerate(attributes.weights) if b != scope)
    if attributes.bands is not None:
        g_out += attributes.price_weight
    price = attributes.price_weight if attributes.bands is not None else 0.0
    common_max, a_max = common_norm.max(initial=0.0), a.max(initial=0.0)
    scope_codes = attributes.labels[scope] if scope is not None else None
    X_rare_t = X_rare.T.tocsr()
    parts, dense_rows = [], []
    for start, stop in itertools.pairwise(flop_blocks(X_rare_t, n_items).tolist()):
        r, c, v = top_per_row(
            *_block_entries(exact, start, stop), n_rows=stop - start, n_cols=n_items, k=k
        )
        kth = _kth(r, v, stop - start, k)
        G = X_rare[start:stop] @ X_rare_t
        counts = np.diff(G.indptr)
        short = kth == 0
        if short.any():
            # Fewer than k exact candidates (no scope label, small groups): the k-th best
            # lower bound x^R_i·x^R_j + a_i a_j g_ij over the rare candidates stands in.
            some = np.flatnonzero(np.repeat(short, counts))
            rows = np.searchsorted(G.indptr, some, side="right") - 1
            cols, i = G.indices[some].astype(np.int64), rows + start
            low = G.data[some] + a[i] * a[cols] * attributes.score(i, cols)
            low[cols == i] = 0
            lr, _, lv = top_per_row(rows, cols, low, n_rows=stop - start, n_cols=n_items, k=k)
            kth = np.maximum(kth, _kth(lr, lv, stop - start, k))
        # A first cut on the rare dot product, against the most the rest can add: the
        # common columns and the price band at most, plus the labels the pair shares,
        # looked up only where the band alone cannot rule the pair out. A hair looser
        # than the exact test below, and rounded down to float32 (G's type) for the bulk.
        target = (kth - 1e-7) / (1 + 1e-5) - common_norm[start:stop] * common_max - 1e-12
        most_a = a[start:stop] * a_max
        sure = np.nextafter((target - most_a * price).astype(FLOAT), FLOAT(-np.inf))
        passed = G.data >= np.repeat(sure, counts)
        row_of = np.repeat(np.arange(stop - start), counts)
        if g_out > price:
            least = np.nextafter((target - most_a * g_out).astype(FLOAT), FLOAT(-np.inf))
            maybe = np.flatnonzero(~passed & (G.data >= np.repeat(least, counts)))
            mrows, mcols = row_of[maybe], G.indices[maybe]
            g = np.full(maybe.size, price)
            for b, codes in enumerate(attributes.labels):
                if b != scope:
                    mine = codes[start + mrows]
                    g += attributes.weights[b] * ((codes[mcols] == mine) & (mine >= 0))
            passed[maybe[G.data[maybe] >= target[mrows] - most_a[mrows] * g]] = True
        some = np.flatnonzero(passed)
        rows = row_of[some]
        cols, rare_dot = G.indices[some].astype(np.int64), G.data[some].astype(np.float64)
        i = rows + start
        keep = cols != i
        if scope_codes is not None:
            # Scope pairs are already scored exactly.
            keep &= (scope_codes[cols] != scope_codes[i]) | (scope_codes[i] < 0)
        rows, cols, rare_dot, i = rows[keep], cols[keep], rare_dot[keep], i[keep]
        # lower bound without the common columns: x^R_i·x^R_j + a_i a_j g_ij
        low = rare_dot + a[i] * a[cols] * attributes.score(i, cols)
        high = low + common_norm[i] * common_norm[cols]
        keep = high * (1 + 1e-5) + 1e-7 >= kth[rows]
        rows, cols, low = rows[keep], cols[keep], low[keep]
        scores = low + pair_dots(X_common, rows + start, cols)
        # List members, bounded as if they had no rare column in common: those that do
        # are among the pairs just scored, or below the k-th exact score already.
        found = [np.concatenate([r, rows])]
        found_cols, found_scores = [np.concatenate([c, cols])], [v, scores]
        known = np.sort((rows + start) * n_items + cols)
        for listed in lists:
            w_S = sum(attributes.weights[b] for b in listed.labels)
            if attributes.bands is not None:
                w_S += attributes.price_weight
            most = a_max * w_S * a[start:stop] + common_norm[start:stop] * common_max
            items = start + np.flatnonzero(most * (1 + 1e-5) + 1e-7 >= kth)
            li, lj = list_pairs(listed, attributes, items)
            low = a[li] * a[lj] * attributes.score(li, lj)
            keep = (low + common_norm[li] * common_norm[lj]) * (1 + 1e-5) + 1e-7 >= kth[li - start]
            li, lj, low = li[keep], lj[keep], low[keep]
            # Drop the pairs the rare product already gave (scored the same way).
            new = li * n_items + lj
            at = np.minimum(np.searchsorted(known, new), max(known.size - 1, 0))
            fresh = known[at] != new if known.size else np.ones(new.size, dtype=bool)
            li, lj, low = li[fresh], lj[fresh], low[fresh]
            found.append(li - start)
            found_cols.append(lj)
            found_scores.append(low + pair_dots(X, li, lj))
        r, c, v = top_per_row(
            np.concatenate(found),
            np.concatenate(found_cols),
            np.concatenate([f.astype(np.float64) for f in found_scores]),
            n_rows=stop - start,
            n_cols=n_items,
            k=k,
        )
        kth = _kth(r, v, stop - start, k)
        # Proved: nothing outside the candidates reaches the k-th exact score (or nothing
        # outside scores above 0 at all). Slack covers float32 rounding.
        proved = (bound[start:stop] * (1 + 1e-5) + 1e-7 < kth) | (bound[start:stop] == 0)
        late = np.flatnonzero(~proved & (kth > 0))
        if late.size and lists:
            # Unproved rows walk further down their pools, as far as a member could still
            # reach the k-th score; the rest of each pool is then bounded by the next one.
            rest, (wr, wc, ws) = widen(
                lists,
                attributes,
                a,
                start + late,
                kth[late],
                common_norm,
                X_common,
                np.sort((r + start) * n_items + c),
                n_items,
            )
            r, c, v = top_per_row(
                np.concatenate([r, wr - start]),
                np.concatenate([c, wc]),
                np.concatenate([v.astype(np.float64), ws]),
                n_rows=stop - start,
                n_cols=n_items,
                k=k,
            )
            kth = _kth(r, v, stop - start, k)
            late_bound = common_norm[start + late] * common_max + a[start + late] * rest
            proved[late] = late_bound * (1 + 1e-5) + 1e-7 < kth[late]
        dense_rows.append(start + np.flatnonzero(~proved))
        keep = proved[r]
        parts.append((r[keep] + start, c[keep], v[keep]))
    parts.append(_dense_neighbours(vectors, np.concatenate(dense_rows), k))
    rows, cols, vals = (np.concatenate([p[j] for p in parts]) for j in range(3))
    return _assemble(rows, cols, vals, n_items)


def _dense_neighbours(
    vectors: sp.csr_matrix, items: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k cosines of ``items`` from their full rows of V Vᵀ (the fallback)."""
    n_items = vectors.shape[0]
    vectors_t = vectors.T.tocsr()
    step = max(1, _BLOCK_CELLS // max(n_items, 1))
    rows, cols, vals = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, FLOAT)]
    for start in range(0, items.size, step):
        chunk = items[start : start + step]
        cosine = (vectors[chunk] @ vectors_t).toarray()
        cosine[cosine <= 0] = -np.inf
        cosine[np.arange(chunk.size), chunk] = -np.inf
        ids, scores = top_k(cosine, k)
        kept = ids >= 0
        rows.append(chunk[np.nonzero(kept)[0]])
        cols.append(ids[kept])
        vals.append(scores[kept])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _split_by_spread(X: sp.csr_matrix, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """(rare, common) column indices: the common ones are the fewest most widespread columns
    leaving Σ df² over the rare ones (the cost of their Gram matrix) within ``budget``."""
    df = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
    order = np.argsort(-df, kind="stable")
    # left[p] = Σ df² over order[p:]
    left = np.concatenate([np.cumsum((df[order] ** 2)[::-1])[::-1], [0.0]])
    split = int(np.argmax(left <= budget))
    return np.sort(order[split:]), np.sort(order[:split])


def _scope_label(attributes: Attributes, n: int) -> int | None:
    """The heaviest label block whose groups hold at most ``_SCOPE_PAIRS_PER_ITEM`` × n pairs
    (None when there is none)."""
    best = None
    for b, codes in enumerate(attributes.labels):
        sizes = np.bincount(codes[codes >= 0]).astype(np.float64)
        if (sizes**2).sum() > _SCOPE_PAIRS_PER_ITEM * n:
            continue
        if best is None or attributes.weights[b] > attributes.weights[best]:
            best = b
    return best


def _scope_pairs(
    X: sp.csr_matrix, attributes: Attributes, a: np.ndarray, k: int, scope: int | None
) -> sp.csr_matrix:
    """Exact s_ij, the best k per item, among the items sharing its ``scope`` label."""
    n = X.shape[0]
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if scope is not None:
        codes = attributes.labels[scope]
        has = np.flatnonzero(codes >= 0)
        order = has[np.argsort(codes[has], kind="stable")]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(codes[has]))])
        for lo, hi in itertools.pairwise(ptr.tolist()):
            if hi - lo > 1:
                group = order[lo:hi]
                found.append(_exact_block(X, attributes, a, group, group, k))
    rows, cols, vals = (
        np.concatenate([np.empty(0, dtype), *(f[j] for f in found)])
        for j, dtype in enumerate((np.int64, np.int64, FLOAT))
    )
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=FLOAT)


def _exact_block(
    X: sp.csr_matrix,
    attributes: Attributes,
    a: np.ndarray,
    queries: np.ndarray,
    members: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's best k positive s_ij over ``members`` (never itself), computed exactly:
    x_i·x_j by a sparse product, a_i a_j g_ij from the codes."""
    members_t = X[members].T.tocsr()
    step = max(1, _BLOCK_CELLS // members.size)
    take = min(k, members.size)
    rows, cols, vals = [], [], []
    for start in range(0, queries.size, step):
        q = queries[start : start + step]
        s = (X[q] @ members_t).toarray().astype(np.float64)
        i, j = q[:, None], members[None, :]
        s += a[i] * a[j] * attributes.score(i, j)
        s[(i == j) | (s <= 0)] = -np.inf
        ids, top = top_k(s, take)
        kept = ids >= 0
        rows.append(q[np.nonzero(kept)[0]])
        cols.append(members[ids[kept]])
        vals.append(top[kept])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _block_entries(
    matrix: sp.csr_matrix, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row - start, col, value) of the entries of rows [start, stop)."""
    lo, hi = matrix.indptr[start], matrix.indptr[stop]
    rows = np.repeat(np.arange(stop - start), np.diff(matrix.indptr[start : stop + 1]))
    return rows, matrix.indices[lo:hi].astype(np.int64), matrix.data[lo:hi]


def _kth(rows: np.ndarray, values: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """k-th value of each row of best-first grouped entries; 0 for rows with fewer."""
    counts = np.bincount(rows, minlength=n_rows)
    kth = np.zeros(n_rows)
    full = np.flatnonzero(counts >= k)
    kth[full] = values[(np.cumsum(counts) - counts)[full] + k - 1]
    return kth


def _assemble(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_items: int) -> sp.csr_matrix:
    """The (n_items, n_items) float32 CSR of the kept neighbours, indices sorted."""
    similarity = sp.csr_matrix(
        (vals.astype(FLOAT), (rows, cols)), shape=(n_items, n_items), dtype=FLOAT
    )
    similarity.sort_indices()
    return similarity
