"""The baselines a replay compares the served lists with, fitted on the replay's training pairs:
popularity, and a plain EASE with its regularisation tuned on a validation split carved from the
training pairs (item-kNN past EASE's item limit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recommender.core import EASE, ItemKNN, Recommender
from recommender.core.popularity import Popularity
from recommender.replay.protocol import Split, validation_split
from recommender.replay.scoring import score_lists

EASE_GRID = (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)


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
