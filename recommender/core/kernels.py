"""Numeric helpers several models share: row blocking, request-time BLAS, packed top-k, row norms.

They live here rather than in the model that first needed them, so no model imports another's
privates (SVD used ALS's, the content index item-kNN's).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

# Every model stores and scores in float32: half the memory of float64, and BLAS is as exact
# as ranking needs.
FLOAT = np.float32

# Guards floor(fraction * n) against 0.29 * 100 == 28.999999999999996.
EPS = 1e-9

# Default block of ``row_blocks``: on 1M interactions 8k values per block beat 4k and 32k when
# every block allocated its gathered factors (SVD still does), and was ~7× faster than one gather.
BLOCK_NNZ = 8_192
BLOCK_ROWS = 2_048
# Up to this many rows, scoring runs BLAS single-threaded. On a busy 2-core box a threaded
# (1×64)@(64×50k) product took 12–24 ms waiting for the second core, single-threaded 0.5–0.9 ms;
# a request-time score is too small to split and the web server has its own workers.
SERIAL_SCORING_ROWS = 32
_blas_controller: ThreadpoolController | None = None


@contextlib.contextmanager
def request_time_blas(n_rows: int) -> Iterator[None]:
    """Limit BLAS to one thread while scoring ``n_rows`` <= SERIAL_SCORING_ROWS rows."""
    global _blas_controller
    if n_rows > SERIAL_SCORING_ROWS:
        yield
        return
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    with _blas_controller.limit(limits=1, user_api="blas"):
        yield


# A block of the item-item product is bounded by this many multiply-adds. Small blocks keep
# each temporary array under glibc's 32 MB mmap threshold, so memory is reused instead of
# page-faulted afresh per block: measured 2x faster than 8M-flop blocks on 1M interactions.
BLOCK_FLOPS = 1_000_000
# The packed sort key spends bits on row-in-block, so blocks are capped in rows too.
MAX_BLOCK_ROWS = 4096
# Bits of the packed key left for (row-in-block, column) after the 31 bits of a float32 value.
KEY_INDEX_BITS = 32


def row_blocks(indptr: np.ndarray, nnz: int = BLOCK_NNZ, max_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Row boundaries splitting a CSR matrix into blocks of about ``nnz`` stored values and at
    most ``max_rows`` rows (a row longer than ``nnz`` gets a block of its own)."""
    n_rows = indptr.size - 1
    by_nnz = np.searchsorted(indptr, np.arange(0, int(indptr[-1]), nnz), side="right") - 1
    by_rows = np.arange(0, n_rows, max_rows)
    return np.unique(np.concatenate([by_nnz, by_rows, [0, n_rows]]).astype(np.int64))


def rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of two (n, k) arrays, shape (n,)."""
    return np.einsum("ij,ij->i", a, b)


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is not positive (a converged CG step divides 0 by 0)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def flop_blocks(W: sp.csr_matrix, n_items: int) -> np.ndarray:
    """Item boundaries [0, ..., n_items] so each block's product costs about ``BLOCK_FLOPS``.

    Item i's row of Wᵀ W costs Σ_{u ∈ U_i} |I_u| multiply-adds, so popular items get small
    blocks and the long tail large ones.
    """
    user_degree = np.diff(W.indptr).astype(np.float64)
    user_of = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    flops = np.bincount(W.indices, weights=user_degree[user_of], minlength=n_items)
    cumulative = np.cumsum(flops)
    total = cumulative[-1] if n_items else 0.0
    targets = np.arange(BLOCK_FLOPS, total, BLOCK_FLOPS)
    cuts = np.searchsorted(cumulative, targets, side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [n_items]]).astype(np.int64))
    # Split blocks that exceed the row cap (the packed sort key has room for it only).
    bits_col = max(int(n_items - 1).bit_length(), 1)
    max_rows = min(MAX_BLOCK_ROWS, 2 ** max(KEY_INDEX_BITS - bits_col, 0))
    if max_rows < 1:
        raise ValueError(f"{n_items} items are too many to rank in one packed key")
    pieces = [np.arange(a, b, max_rows) for a, b in itertools.pairwise(bounds.tolist())]
    return np.unique(np.concatenate([*pieces, [n_items]])).astype(np.int64)


def top_per_row(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    *,
    n_rows: int,
    n_cols: int,
    k: int,
    counts: np.ndarray | None = None,
    skip_cols: np.ndarray | None = None,
    by_column: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` largest values per row of a COO triplet of non-negative values.

    One ``np.sort`` of packed int64 keys (row | flipped float32 bits of the value | col) orders
    every row by value, descending, ties by lower column: several times faster than
    ``argsort``/``lexsort`` on the tens of millions of entries a Gram block holds, and every
    later step touches only the kept entries. The bit pattern of a non-negative float32 sorts
    like the number itself, so values come back exactly (as float32) on any scale: cosines in
    [0, 1] and unnormalised BM25 dot products alike. Negative values and NaN rank as 0.

    Parameters
    ----------
    rows, cols : int arrays, shape (nnz,); values : float array, shape (nnz,)
    counts : int array, shape (n_rows,), optional
        Entries per row when already known (a CSR ``indptr`` diff).
    skip_cols : int array, shape (n_rows,), optional
        A column to drop from each row (the item itself, the user themself; -1 for none).
    by_column : bool
        Order each row's kept entries by column (CSR order) instead of best first.

    Returns
    -------
    rows, cols (int64), values (float32) of the kept entries, grouped by row (ascending),
    best first or by column.
    """
    if counts is None:
        counts = np.bincount(rows, minlength=n_rows)
    bits_col = max(int(n_cols - 1).bit_length(), 1)
    bits_row = max(int(n_rows - 1).bit_length(), 1)
    if bits_col + bits_row > KEY_INDEX_BITS:
        raise ValueError(f"block of {n_rows} rows x {n_cols} columns is too large to rank")
    # +0.0 for anything not positive (-0.0 and NaN would break the bit order).
    positive = np.where(np.asarray(values) > 0, values, 0).astype(FLOAT)
    # 0x7FFFFFFF - bits: ascending key is descending value.
    key = positive.view(np.int32).astype(np.int64)
    del positive
    np.subtract(0x7FFFFFFF, key, out=key)
    key <<= bits_col
    key |= cols
    key |= rows.astype(np.int64) << (31 + bits_col)
    key.sort()
    # Gather the first `take` keys of each row: positions start_r .. start_r + take_r - 1.
    take = np.minimum(counts, k if skip_cols is None else k + 1)
    starts = np.cumsum(counts) - counts
    take_starts = np.cumsum(take) - take
    position = np.arange(take.sum()) + np.repeat(starts - take_starts, take)
    key = key[position]
    top_rows = np.repeat(np.arange(n_rows), take)
    top_cols = key & ((1 << bits_col) - 1)
    top_vals = (0x7FFFFFFF - ((key >> bits_col) & 0x7FFFFFFF)).astype(np.int32).view(FLOAT)
    if skip_cols is not None:
        # We took k + 1 so dropping the skipped column still leaves k where available.
        keep = top_cols != np.asarray(skip_cols)[top_rows]
        top_rows, top_cols, top_vals = top_rows[keep], top_cols[keep], top_vals[keep]
        left = np.bincount(top_rows, minlength=n_rows)
        rank = np.arange(top_rows.size) - (np.cumsum(left) - left)[top_rows]
        keep = rank < k
        top_rows, top_cols, top_vals = top_rows[keep], top_cols[keep], top_vals[keep]
    if by_column:
        # One more sort of the kept entries only: row | col | value bits, unpacked after.
        key = top_vals.view(np.int32).astype(np.int64)
        key |= top_cols << 31
        key |= top_rows.astype(np.int64) << (31 + bits_col)
        key.sort()
        top_rows = key >> (31 + bits_col)
        top_cols = (key >> 31) & ((1 << bits_col) - 1)
        top_vals = (key & 0x7FFFFFFF).astype(np.int32).view(FLOAT)
    return top_rows, top_cols, top_vals


def normalize_rows(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (empty rows stay empty)."""
    matrix = sp.csr_matrix(matrix, dtype=FLOAT)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(FLOAT)
    return sp.csr_matrix(sp.diags(scale) @ matrix, dtype=FLOAT)


def row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    """‖row‖₂ per row, float64."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    squares = np.bincount(
        rows, weights=matrix.data.astype(np.float64) ** 2, minlength=matrix.shape[0]
    )
    return np.sqrt(squares)


def pair_dots(X: sp.csr_matrix, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """x_i·x_j for each pair (i, j), float64."""
    if X.shape[1] == 0 or X.nnz == 0 or i.size == 0:
        return np.zeros(i.size)
    products = X[i].multiply(X[j])
    return np.asarray(products.sum(axis=1), dtype=np.float64).ravel()


def item_rows(item_ids: np.ndarray, n_items: int) -> sp.csr_matrix:
    """One CSR row per item id with a single 1 at that item, shape (len(item_ids), n_items).

    The "shopper who touched only this item" used by ``similar_items``, and the mask that keeps an
    item out of its own neighbour list.
    """
    return sp.csr_matrix(
        (np.ones(item_ids.size, dtype=FLOAT), (np.arange(item_ids.size), item_ids)),
        shape=(item_ids.size, n_items),
    )


def sparse_rows_sum(matrix: sp.csr_matrix, item_ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_j w_j · matrix[j] as a dense float32 vector of shape (matrix.shape[1],).

    The request-time ``r @ S`` of a neighbourhood model without building ``r``: the stored
    entries of the selected rows are gathered with one index computation (no loop over the
    shopper's items) and summed by ``np.bincount``.
    """
    position, counts = _stored_positions(matrix, item_ids)
    scores = np.bincount(
        matrix.indices[position],
        weights=matrix.data[position] * np.repeat(weights, counts),
        minlength=matrix.shape[1],
    )
    return scores.astype(FLOAT)


def sparse_rows_top_k(
    matrix: sp.csr_matrix, row_ids: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``ranking.top_k`` of the selected rows with every unstored entry at -inf: the same ids
    and scores in the same order (score descending, lower column first; -1 and -inf past the
    last stored finite entry), read from the stored entries alone rather than from a dense
    (rows × columns) block, which cost a catalogue-sized fill and partition per request.
    """
    row_ids = np.asarray(row_ids, dtype=np.int64)
    position, counts = _stored_positions(matrix, row_ids)
    rows = np.repeat(np.arange(row_ids.size), counts)
    columns = matrix.indices[position].astype(np.int64)
    values = np.asarray(matrix.data[position], dtype=FLOAT)
    values[~np.isfinite(values)] = -np.inf
    order = np.lexsort((columns, -values, rows))
    # Sorted by row first, so each row's entries stay where its stored entries started.
    rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < n
    ids = np.full((row_ids.size, n), -1, dtype=np.int64)
    scores = np.full((row_ids.size, n), -np.inf, dtype=FLOAT)
    at = order[keep]
    ids[rows[at], rank[keep]] = columns[at]
    scores[rows[at], rank[keep]] = values[at]
    ids[~np.isfinite(scores)] = -1
    return ids, scores


def sparse_row_dots(matrix: sp.csr_matrix, row: int, other_rows: np.ndarray) -> np.ndarray:
    """matrix[row] · matrix[j] for each j in ``other_rows``, float32, from the stored entries
    of those rows only (a few dozen rows: no sparse product, no catalogue-sized vector)."""
    other_rows = np.asarray(other_rows, dtype=np.int64)
    start, stop = matrix.indptr[row], matrix.indptr[row + 1]
    if start == stop or not other_rows.size:
        return np.zeros(other_rows.size, dtype=FLOAT)
    by_column = np.argsort(matrix.indices[start:stop], kind="stable")
    columns, values = matrix.indices[start:stop][by_column], matrix.data[start:stop][by_column]
    position, counts = _stored_positions(matrix, other_rows)
    theirs = matrix.indices[position]
    at = np.searchsorted(columns, theirs)
    at[at >= columns.size] = 0
    products = np.where(columns[at] == theirs, values[at] * matrix.data[position], 0)
    owners = np.repeat(np.arange(other_rows.size), counts)
    return np.bincount(owners, weights=products, minlength=other_rows.size).astype(FLOAT)


def sparse_block(matrix: sp.csr_matrix, row_ids: np.ndarray, column_ids: np.ndarray) -> np.ndarray:
    """matrix[row_ids][:, column_ids] as a dense float32 block, from the selected rows' stored
    entries: scipy's fancy row-then-column indexing cost ~1 ms per call on a 58k-item kNN
    matrix (a third of a "for you" request's ranking), this a few tens of microseconds."""
    row_ids = np.asarray(row_ids, dtype=np.int64)
    column_ids = np.asarray(column_ids, dtype=np.int64)
    wanted, inverse = np.unique(column_ids, return_inverse=True)
    block = np.zeros((row_ids.size, wanted.size), dtype=FLOAT)
    if not row_ids.size or not wanted.size:
        return block[:, inverse.ravel()]
    position, counts = _stored_positions(matrix, row_ids)
    columns = matrix.indices[position]
    # In the indices' own dtype: a mixed int32/int64 search converts every stored entry first.
    at = np.searchsorted(wanted.astype(columns.dtype), columns)
    at[at >= wanted.size] = 0
    hit = wanted[at] == columns
    rows = np.repeat(np.arange(row_ids.size), counts)
    # add.at: a non-canonical matrix's repeated entries sum, as scipy's toarray sums them
    np.add.at(block, (rows[hit], at[hit]), matrix.data[position][hit])
    return block[:, inverse.ravel()]


def _stored_positions(matrix: sp.csr_matrix, row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in ``matrix.data`` of every stored entry of the selected rows, rows back to
    back; the number of entries of each row)."""
    starts = matrix.indptr[row_ids]
    counts = matrix.indptr[row_ids + 1] - starts
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return np.arange(offsets.size) + offsets, counts
