"""The baselines a replay compares the served lists with, fitted on the replay's training pairs:
popularity, and a plain EASE with its regularisation tuned on a validation split carved from the
training pairs (item-kNN past EASE's item limit). For the repeat-inclusive target: the
shopper's own most frequent purchases, then popularity; and the repeat scorer's parameters
chosen on a validation window before the cut (``tune_repeat``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.core import EASE, ItemKNN, Recommender
from recommender.core.popularity import Popularity
from recommender.core.repeat import Purchases, most_frequent_scores, repeat_recommend
from recommender.replay.protocol import Split, validation_split
from recommender.replay.scoring import score_lists

EASE_GRID = (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)
# Half-lives in days, 1 (the latest basket) to 10 years (plain frequency), and TIFU-KNN's
# neighbour blends (alpha = own share, k neighbours) tried at the best half-life.
HALF_LIFE_GRID = (1.0, 7.0, 30.0, 90.0, 180.0, 365.0, 3650.0)
NEIGHBOUR_GRID = ((0.9, 50), (0.7, 50), (0.9, 300))


@dataclass(frozen=True)
class Baseline:
    name: str
    recs: np.ndarray  # item codes per eval user, -1 = nothing
    params: dict


def top_k(model: Recommender, train: sp.csr_matrix, users: np.ndarray, k: int) -> np.ndarray:
    """Each user's top ``k`` items, their training items excluded (-1 pads short lists)."""
    ids, _scores = model.recommend(users, train, n=k, exclude_seen=True)
    return np.asarray(ids, dtype=np.int64)


def popularity(split: Split, *, k: int) -> Baseline:
    """Items ranked by training pairs (the same list for everyone, minus their own items)."""
    model = Popularity().fit(split.train)
    return Baseline("popularity", top_k(model, split.train, split.eval_users, k), {})


def ease(split: Split, *, k: int, max_items: int = 20_000) -> Baseline:
    """EASE with λ chosen by NDCG@k on the validation split; item-kNN past ``max_items``."""
    if split.train.shape[1] > max_items:
        model = ItemKNN().fit(split.train)
        return Baseline("item_knn", top_k(model, split.train, split.eval_users, k), {})
    inner = validation_split(split)
    scores = {}
    for regularization in EASE_GRID:
        model = EASE(regularization=regularization, max_items=max_items).fit(inner.train)
        recs = top_k(model, inner.train, inner.eval_users, k)
        metrics, _ = score_lists(recs, users=inner.eval_users, relevant=inner.test, k=k)
        scores[regularization] = metrics[f"ndcg@{k}"]
    best = max(EASE_GRID, key=lambda value: (scores[value], -value))
    model = EASE(regularization=best, max_items=max_items).fit(split.train)
    params = {"regularization": best, "validation_ndcg": scores}
    return Baseline("ease", top_k(model, split.train, split.eval_users, k), params)


def own_most_frequent(
    split: Split,
    purchases: Purchases,
    users: np.ndarray,
    *,
    k: int,
    servable: np.ndarray | None = None,
) -> Baseline:
    """Each shopper's most purchased items before the cut (ties: more popular first), then
    the most popular items (training pairs) they never bought. ``servable`` (bool per item):
    only those items, as the slot serves only what the catalog offers."""
    counts = purchases.counts(before=split.cut)
    popular = np.asarray(split.train.sum(axis=0)).ravel().astype(np.float64)
    if servable is not None:
        counts = counts @ sp.diags(servable.astype(counts.dtype))
        counts.eliminate_zeros()
        popular = np.where(servable, popular, 0.0)
    recs, _scores = most_frequent_scores(counts, popular, users, n=k)
    if servable is not None:  # a shop with fewer than k servable items: no unservable filler
        recs[(recs >= 0) & ~servable[np.maximum(recs, 0)]] = -1
    return Baseline("own_most_frequent", recs, {})


def tune_repeat(split: Split, purchases: Purchases, *, k: int) -> dict:
    """The repeat scorer's half-life (and neighbour blend) by NDCG@k on the validation window
    carved from the training pairs (``validation_split``'s cut to the replay's cut): the
    purchases before the validation cut scored against those after it, never the test."""
    start = validation_split(split).cut
    target = purchases.between(start, split.cut)
    history = purchases.counts(before=start)
    users = np.flatnonzero((np.diff(history.indptr) > 0) & (np.diff(target.indptr) > 0))
    if users.size == 0:
        return {"validation_users": 0}
    scores: dict[str, float] = {}

    def score(half_life: float, alpha: float = 1.0, neighbours: int = 0) -> float:
        decayed = purchases.decayed(now=start, half_life_days=half_life)
        recs, _ = repeat_recommend(decayed, users, n=k, alpha=alpha, neighbours=neighbours)
        metrics, _per_user = score_lists(recs, users=users, relevant=target, k=k)
        return metrics[f"ndcg@{k}"]

    for half_life in HALF_LIFE_GRID:
        scores[f"half_life={half_life:g}"] = score(half_life)
    best = max(HALF_LIFE_GRID, key=lambda h: (scores[f"half_life={h:g}"], -h))
    chosen = {"half_life_days": best, "alpha": 1.0, "neighbours": 0}
    top = scores[f"half_life={best:g}"]
    for alpha, neighbours in NEIGHBOUR_GRID:
        name = f"half_life={best:g} alpha={alpha:g} k={neighbours}"
        scores[name] = score(best, alpha, neighbours)
        if scores[name] > top:
            top = scores[name]
            chosen = {"half_life_days": best, "alpha": alpha, "neighbours": neighbours}
    return {
        "validation_cut": start,
        "validation_users": int(users.size),
        "validation_ndcg": scores,
        "chosen": chosen,
    }


def repeat_scorer(
    split: Split, purchases: Purchases, users: np.ndarray, *, k: int, chosen: dict
) -> Baseline:
    """The core repeat scorer at the validated parameters, fitted on purchases before the cut."""
    decayed = purchases.decayed(now=split.cut, half_life_days=chosen["half_life_days"])
    recs, _ = repeat_recommend(
        decayed, users, n=k, alpha=chosen["alpha"], neighbours=chosen["neighbours"]
    )
    return Baseline("repeat_scorer", recs, chosen)
