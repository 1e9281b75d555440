"""Loaders for the real benchmark datasets in ``../shared/datasets`` (read in place, never copied).

Each loader returns an ``Interactions`` of parallel numpy arrays, one entry per interaction:
dense ``users`` / ``items`` ids, a ``values`` weight and ``times`` in Unix seconds. The original
ids are kept in ``user_labels`` / ``item_labels`` (``items[k]`` is ``item_labels[items[k]]``).
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"

# MovieLens as implicit feedback: a rating of 4 or more is a positive interaction ("liked"),
# anything lower is dropped (the convention of implicit's and most top-N MovieLens papers).
MOVIELENS_MIN_RATING = 4.0


@dataclass(frozen=True)
class Interactions:
    """Parallel arrays of one dataset's interactions (see module docstring)."""

    name: str
    users: np.ndarray  # int64, shape (n,)
    items: np.ndarray  # int64, shape (n,)
    values: np.ndarray  # float32, shape (n,)
    times: np.ndarray  # int64 Unix seconds, shape (n,)
    user_labels: np.ndarray
    item_labels: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.user_labels.size)

    @property
    def n_items(self) -> int:
        return int(self.item_labels.size)

    def describe(self) -> str:
        density = self.users.size / max(self.n_users * self.n_items, 1)
        return (
            f"{self.name}: {self.users.size:,} interactions, {self.n_users:,} users, "
            f"{self.n_items:,} items, density {density:.2%}"
        )


def _densify(name: str, users, items, values, times) -> Interactions:
    user_labels, user_ids = np.unique(users, return_inverse=True)
    item_labels, item_ids = np.unique(items, return_inverse=True)
    return Interactions(
        name=name,
        users=user_ids.astype(np.int64),
        items=item_ids.astype(np.int64),
        values=np.asarray(values, dtype=np.float32),
        times=np.asarray(times, dtype=np.int64),
        user_labels=user_labels,
        item_labels=item_labels,
    )


def _first_occurrence(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Positions of each (user, item) pair's earliest interaction, in time order."""
    order = np.lexsort((np.arange(times.size), times))
    _, item_codes = np.unique(items, return_inverse=True)
    _, user_codes = np.unique(users, return_inverse=True)
    keys = user_codes.astype(np.int64) * (item_codes.max() + 1) + item_codes
    _, first = np.unique(keys[order], return_index=True)
    return np.sort(order[first])


def load_online_retail(root: Path = DATA_ROOT) -> Interactions:
    """UCI Online Retail as binary implicit purchases.

    The dataset README's usual filter: ``CustomerID`` present, ``Quantity > 0``,
    ``UnitPrice > 0``, invoice not starting with ``C`` (397,884 lines). Then each
    (customer, stock code) pair is kept once, at its first purchase, with value 1.
    """
    path = root / "online_retail" / "online_retail.csv.gz"
    customers, codes, stamps = [], [], []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        inv, code, qty = col["InvoiceNo"], col["StockCode"], col["Quantity"]
        date, price, cust = col["InvoiceDate"], col["UnitPrice"], col["CustomerID"]
        for row in reader:
            if not row[cust] or row[inv].startswith("C"):
                continue
            if int(row[qty]) <= 0 or float(row[price]) <= 0:
                continue
            customers.append(row[cust].removesuffix(".0"))
            codes.append(row[code])
            stamps.append(row[date])
    users = np.asarray(customers)
    items = np.asarray(codes)
    times = np.asarray(stamps, dtype="datetime64[s]").astype(np.int64)
    keep = _first_occurrence(users, items, times)
    return _densify("online_retail", users[keep], items[keep], np.ones(keep.size), times[keep])


def _movielens(name: str, users, items, ratings, times, min_rating: float | None) -> Interactions:
    if min_rating is None:
        return _densify(name, users, items, ratings, times)
    keep = ratings >= min_rating
    return _densify(name, users[keep], items[keep], np.ones(keep.sum()), times[keep])


def load_movielens_100k(
    root: Path = DATA_ROOT, min_rating: float | None = MOVIELENS_MIN_RATING
) -> Interactions:
    """ml-100k. With ``min_rating`` (default 4): binary positives; ``None``: raw 1-5 ratings."""
    raw = np.loadtxt(root / "movielens_100k" / "u.data.gz", dtype=np.int64)
    return _movielens(
        "movielens_100k", raw[:, 0], raw[:, 1], raw[:, 2].astype(np.float32), raw[:, 3], min_rating
    )


def load_movielens_latest_small(
    root: Path = DATA_ROOT, min_rating: float | None = MOVIELENS_MIN_RATING
) -> Interactions:
    """ml-latest-small. With ``min_rating`` (default 4): binary positives; ``None``: raw
    0.5-5 star ratings."""
    raw = np.loadtxt(root / "movielens_latest_small" / "ratings.csv.gz", delimiter=",", skiprows=1)
    return _movielens(
        "movielens_latest_small",
        raw[:, 0].astype(np.int64),
        raw[:, 1].astype(np.int64),
        raw[:, 2].astype(np.float32),
        raw[:, 3].astype(np.int64),
        min_rating,
    )


LOADERS = {
    "online_retail": load_online_retail,
    "movielens_100k": load_movielens_100k,
    "movielens_latest_small": load_movielens_latest_small,
}
