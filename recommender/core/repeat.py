"""Repeat purchases: TIFU-KNN's personal item frequency (Hu et al. 2020, "Modeling Personalized
Item Frequency Information for Next-basket Recommendation"), numbers only.

Each shopper's history is a time-decayed frequency vector: every purchase of item i counts
``2 ** (-age / half_life)``, so a short half-life lets last week's product beat an old favourite
and a long one ranks by plain frequency. The neighbour part (weight ``1 - alpha``) adds the
mean normalised history of the ``k`` shoppers whose histories are most similar (cosine).

Plain functions rather than a ``Recommender``: the protocol fits a static user × item matrix and
recommends what the user has *not* seen, while a repeat score needs each purchase's time and the
clock it is served at, and ranks what the user *has* bought. The ``buy_again`` slot calls
``decayed_frequency`` for one shopper; the replay calls ``repeat_recommend`` for many.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import scipy.sparse as sp

from recommender.core.kernels import FLOAT
from recommender.core.ranking import top_k

DAY = 86400.0


@dataclass(frozen=True)
class Purchases:
    """Purchase events as codes (users, items) and unix seconds, every one (not first pairs):
    what the buy-again model trains on and the replay's baselines read."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray
    shape: tuple[int, int]

    def counts(self, *, before: float) -> sp.csr_matrix:
        """Users × items: purchase events before ``before``."""
        seen = self.times < before
        ones = np.ones(int(seen.sum()), dtype=np.float32)
        matrix = sp.csr_matrix((ones, (self.users[seen], self.items[seen])), shape=self.shape)
        matrix.sum_duplicates()
        return matrix

    def between(self, start: float, end: float) -> sp.csr_matrix:
        """Users × items, binary: bought in [start, end)."""
        inside = (self.times >= start) & (self.times < end)
        ones = np.ones(int(inside.sum()), dtype=np.float32)
        matrix = sp.csr_matrix((ones, (self.users[inside], self.items[inside])), shape=self.shape)
        matrix.data[:] = 1.0
        return matrix

    def popularity(self, *, before: float, half_life_days: float | None = None) -> np.ndarray:
        """Purchase events per item before ``before``; with ``half_life_days`` each counts
        ``2 ** (-age / half_life)``, so the count says what sells now (a seasonal shop's
        December is not its March). None: all-time counts."""
        seen = self.times < before
        weights = None
        if half_life_days is not None:
            weights = decay_weights((before - self.times[seen]) / DAY, half_life=half_life_days)
        counts = np.bincount(self.items[seen], weights=weights, minlength=self.shape[1])
        return counts.astype(np.float64)

    def decayed(self, *, now: float, half_life_days: float) -> sp.csr_matrix:
        """Users × items: ``decayed_frequency`` of these purchases at ``now``."""
        return decayed_frequency(
            self.users,
            self.items,
            self.times,
            now=now,
            half_life_days=half_life_days,
            shape=self.shape,
        )


def decay_weights(ages: np.ndarray, *, half_life: float) -> np.ndarray:
    """``2 ** (-age / half_life)`` per event (ages in the half-life's unit, negative → 1)."""
    if not half_life > 0:
        raise ValueError(f"half_life must be positive, got {half_life}")
    ages = np.maximum(np.asarray(ages, dtype=np.float64), 0.0)
    return np.exp2(-ages / half_life)


def decayed_frequency(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    *,
    now: float,
    half_life_days: float,
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """Users × items: each purchase before ``now`` (unix seconds) weighted by its decay.

    Parameters
    ----------
    users, items : int arrays, shape (n_events,)
    times : float array, shape (n_events,), unix seconds
    half_life_days : an event this many days old counts half
    """
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    times = np.asarray(times, np.float64)
    if not users.shape == items.shape == times.shape:
        raise ValueError(f"users {users.shape}, items {items.shape}, times {times.shape} differ")
    seen = times < now
    # x_ui = Σ_events 2^(-(now - t) / h): TIFU-KNN's decayed user vector, events not baskets.
    weights = decay_weights((now - times[seen]) / DAY, half_life=half_life_days)
    matrix = sp.csr_matrix((weights.astype(FLOAT), (users[seen], items[seen])), shape=shape)
    matrix.sum_duplicates()
    return matrix


def repeat_scores(
    history: sp.csr_matrix, users: np.ndarray, *, alpha: float = 1.0, neighbours: int = 0
) -> np.ndarray:
    """Dense (len(users), n_items) TIFU-KNN scores: ``alpha`` × the user's own normalised
    history + ``(1 - alpha)`` × the mean normalised history of their ``neighbours`` most
    similar shoppers (cosine of histories, the user excluded)."""
    model = RepeatModel(alpha=alpha, neighbours=neighbours, popularity_weight=0.0)
    return model.fit(history).scores(history[np.asarray(users, np.int64)], users=users)


def own_shares(history: sp.csr_matrix) -> sp.csr_matrix:
    """``p_u = x_u / Σ_i x_ui``: each row sums to one, so own and neighbour parts share a
    scale (empty rows stay empty)."""
    totals = np.asarray(history.sum(axis=1)).ravel()
    return (sp.diags(1.0 / np.where(totals > 0, totals, 1.0)) @ history).tocsr()


class RepeatModel:
    """TIFU-KNN for the buy-again slot: ``alpha`` × the shopper's own decayed, normalised
    purchase history + ``(1 - alpha)`` × the mean history of the ``neighbours`` most similar
    shoppers + ``popularity_weight`` × the item's popularity (scaled to a maximum of 1).

    The popularity term is small: it orders the many ties of shoppers who bought most items
    once (on the fashion demo, plain frequency without it scored 0.91× "own most frequent,
    then popularity", whose ties are broken by popularity) and fills a short list. Counted
    over recent purchases (``popularity_half_life_days``) it also says which of a shopper's
    one-off purchases are in season: on Online Retail (a wholesaler of gifts, tested over
    the Christmas peak) a 7-day half-life beat all-time counts on every validation window
    (bench/README "Stop 21").

    Parameters
    ----------
    half_life_days : the decay the histories are built with (``decayed_frequency``); kept
        with the model so serving decays a shopper's live purchases the same way.
    alpha : own share in [0, 1]; neighbours : k nearest shoppers (0: none).
    popularity_half_life_days : the decay the popularity given to ``fit`` was counted with
        (``Purchases.popularity``; None: all-time counts), kept as a record of the choice.
    """

    def __init__(
        self,
        *,
        half_life_days: float = 90.0,
        alpha: float = 0.5,
        neighbours: int = 100,
        popularity_weight: float = 0.01,
        popularity_half_life_days: float | None = None,
    ) -> None:
        if not half_life_days > 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if neighbours < 0:
            raise ValueError(f"neighbours must be >= 0, got {neighbours}")
        if popularity_weight < 0:
            raise ValueError(f"popularity_weight must be >= 0, got {popularity_weight}")
        decay = popularity_half_life_days
        if decay is not None and not decay > 0:
            raise ValueError(f"popularity_half_life_days must be positive or None, got {decay}")
        self.half_life_days = float(half_life_days)
        self.alpha = float(alpha)
        self.neighbours = int(neighbours)
        self.popularity_weight = float(popularity_weight)
        self.popularity_half_life_days = (
            None if popularity_half_life_days is None else float(popularity_half_life_days)
        )
        self.own: sp.csr_matrix | None = None  # (n_users, n_items) normalised histories
        self.popularity = np.empty(0, dtype=FLOAT)  # (n_items,), max 1

    @property
    def params(self) -> dict[str, float | None]:
        return {
            "half_life_days": self.half_life_days,
            "alpha": self.alpha,
            "neighbours": self.neighbours,
            "popularity_weight": self.popularity_weight,
            "popularity_half_life_days": self.popularity_half_life_days,
        }

    def fit(self, history: sp.csr_matrix, popularity: np.ndarray | None = None) -> RepeatModel:
        """Keep every shopper's normalised history (``history``: users × items, decayed) and
        the items' popularity (default: buyers per item)."""
        history = sp.csr_matrix(history, dtype=np.float64)
        if popularity is None:
            popularity = np.diff(history.tocsc().indptr).astype(np.float64)
        popularity = np.asarray(popularity, dtype=np.float64)
        if popularity.shape != (history.shape[1],):
            raise ValueError(f"popularity {popularity.shape} for {history.shape[1]} items")
        self.own = own_shares(history)
        top = popularity.max() if popularity.size else 0.0
        self.popularity = (popularity / top if top > 0 else popularity).astype(FLOAT)
        return self

    def scores(self, queries: sp.csr_matrix, *, users: np.ndarray | None = None) -> np.ndarray:
        """Dense (n_queries, n_items) scores of decayed histories ``queries``; ``users``: each
        query's own row in the fitted histories (-1: none), never its own neighbour."""
        own = self._fitted()
        queries = own_shares(sp.csr_matrix(queries, dtype=np.float64))
        if queries.shape[1] != own.shape[1]:
            raise ValueError(f"queries have {queries.shape[1]} items, the model {own.shape[1]}")
        users = np.full(queries.shape[0], -1) if users is None else np.asarray(users, np.int64)
        scores = self.alpha * queries.toarray()
        if self.alpha < 1.0 and self.neighbours > 0:
            scores += (1.0 - self.alpha) * _neighbour_mean(own, queries, users, self.neighbours)
        scores += self.popularity_weight * self.popularity[None, :]
        return scores.astype(FLOAT)

    def recommend(
        self, queries: sp.csr_matrix, *, n: int, users: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) best first, shape (n_queries, n); -1 / -inf pads items scoring 0.

        Scored in blocks of queries: a run's holdout at 60k products once scored 20,827
        shoppers in one dense float64 block (9.5 GB)."""
        queries = sp.csr_matrix(queries)
        users = np.full(queries.shape[0], -1) if users is None else np.asarray(users, np.int64)
        blocks = []
        for start in range(0, max(queries.shape[0], 1), _QUERY_BLOCK):
            stop = start + _QUERY_BLOCK
            scores = self.scores(queries[start:stop], users=users[start:stop])
            scores[scores <= 0] = -np.inf
            blocks.append(top_k(scores, n))
        return np.vstack([ids for ids, _ in blocks]), np.vstack([s for _, s in blocks])

    def save(self, path: str | Path) -> None:
        """One ``.npz`` without pickles: the histories as CSR arrays, popularity and params."""
        own = self._fitted()
        np.savez(
            path,
            data=own.data,
            indices=own.indices,
            indptr=own.indptr,
            shape=np.array(own.shape),
            popularity=self.popularity,
            # NaN: all-time popularity (None), as npz keeps no None without pickles.
            params=np.array(
                [
                    self.half_life_days,
                    self.alpha,
                    self.neighbours,
                    self.popularity_weight,
                    np.nan
                    if self.popularity_half_life_days is None
                    else self.popularity_half_life_days,
                ]
            ),
        )

    @classmethod
    def load(cls, path: str | Path | IO[bytes]) -> RepeatModel:
        with np.load(path, allow_pickle=False) as arrays:
            # Artifacts written before the popularity half-life have four params (all-time).
            half_life, alpha, neighbours, weight, *rest = arrays["params"].tolist()
            popularity_half_life = rest[0] if rest and not np.isnan(rest[0]) else None
            model = cls(
                half_life_days=half_life,
                alpha=alpha,
                neighbours=int(neighbours),
                popularity_weight=weight,
                popularity_half_life_days=popularity_half_life,
            )
            shape = tuple(int(v) for v in arrays["shape"])
            model.own = sp.csr_matrix(
                (arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape
            )
            model.popularity = arrays["popularity"].astype(FLOAT)
        return model

    def _fitted(self) -> sp.csr_matrix:
        if self.own is None:
            raise ValueError("the repeat model is not fitted")
        return self.own


# Queries scored at once by ``RepeatModel.recommend``: bounds its dense (queries × items) blocks.
_QUERY_BLOCK = 1_000


def _neighbour_mean(
    own: sp.csr_matrix, queries: sp.csr_matrix, users: np.ndarray, k: int
) -> np.ndarray:
    """Mean of ``own`` rows over each query's ``k`` nearest fitted users by cosine (its own
    row ``users[q]`` excluded)."""
    unit = _unit_rows(own)
    query_unit = _unit_rows(queries)
    k = min(k, own.shape[0] - 1) if own.shape[0] > 1 else 0
    out = np.zeros(queries.shape, dtype=np.float64)
    if k <= 0:
        return out
    for start in range(0, queries.shape[0], 512):  # blocks bound the dense query × user block
        stop = min(start + 512, queries.shape[0])
        similarity = (query_unit[start:stop] @ unit.T).toarray()
        block = np.arange(stop - start)
        self_rows = users[start:stop]
        has_self = self_rows >= 0
        similarity[block[has_self], self_rows[has_self]] = -np.inf
        near, weight = top_k(similarity, k)
        valid = (near >= 0) & (weight > 0)
        rows = np.repeat(block, valid.sum(axis=1))
        pick = sp.csr_matrix(
            (np.ones(rows.size), (rows, near[valid])), shape=(block.size, own.shape[0])
        )
        out[start:stop] = (pick @ own).toarray() / k
    return out


def _unit_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ matrix).tocsr()


def most_frequent_scores(
    counts: sp.csr_matrix, popularity: np.ndarray, users: np.ndarray, *, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The plain baseline: each user's most purchased items (``counts``: users × items), ties
    and the rest of the list by ``popularity`` (scaled into [0, 1), so it never outranks a
    purchase). (ids, scores) of shape (len(users), n)."""
    popularity = np.asarray(popularity, dtype=np.float64)
    shares = popularity / (popularity.max() + 1.0) if popularity.size else popularity
    users = np.asarray(users, dtype=np.int64)
    ids = np.full((users.size, n), -1, dtype=np.int64)
    scores = np.full((users.size, n), -np.inf, dtype=np.float64)
    for start in range(0, users.size, 1000):  # blocks bound the dense users × items scores
        block = users[start : start + 1000]
        dense = counts[block].toarray().astype(np.float64) + shares[None, :]
        ids[start : start + block.size], scores[start : start + block.size] = top_k(dense, n)
    return ids, scores


def repeat_recommend(
    history: sp.csr_matrix,
    users: np.ndarray,
    *,
    n: int,
    alpha: float = 1.0,
    neighbours: int = 0,
    repeat_only: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores), shape (len(users), n), best first, -1 / -inf padded. ``repeat_only``:
    only items the user bought (the buy-again slot); otherwise neighbours' items join."""
    scores = repeat_scores(history, users, alpha=alpha, neighbours=neighbours)
    if repeat_only:
        scores[history[users].toarray() <= 0] = -np.inf
    else:
        scores[scores <= 0] = -np.inf
    return top_k(scores, n)
