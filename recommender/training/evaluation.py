"""Scoring a candidate and the serving champion on one holdout, the way serving scores them.

Both are ranked from each shopper's serving row (``TrainingData.score_rows``: their latest
events weighed as a request weighs them) through ``score_from_rows``, the real-time path, with
everything in their training row excluded, as serving excludes what a shopper bought. They are
compared like for like even when the champion was trained on other shoppers and products: its
item index is mapped onto this run's through the product pks. A configuration's popularity
penalty (β) discounts the scores by each product's training shoppers, as serving does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.core import Recommender
from recommender.core.evaluation import evaluate
from recommender.core.matrix import IdIndex
from recommender.core.ranking import top_k, top_k_shared
from recommender.core.rerank import discounted, popularity_discount


class AlignedModel:
    """``recommend`` for ``model`` over ``items`` (this run's index), whatever index it was
    fitted on. Products the model never saw score -inf; history it does not know is ignored."""

    def __init__(
        self,
        model: Recommender,
        *,
        model_items: IdIndex,
        items: IdIndex,
        score_rows: sp.csr_matrix | None = None,
        discount: np.ndarray | None = None,
    ) -> None:
        self.model = model
        # Per run item: what a positive personal score is multiplied by (None: undiscounted).
        self.discount = discount
        # One score vector for everyone (popularity, trending): ranked once, never a dense
        # (shoppers x catalogue) block per batch.
        self.shared_scores: np.ndarray | None = None
        # Rows scored; None scores the ``user_items`` passed to ``recommend`` (also excluded).
        self.score_rows = score_rows
        self.n_items = len(items)
        self.projection: sp.csr_matrix | None = None
        if model_items != items:
            columns = model_items.to_index(items.ids)
            self.known = np.flatnonzero(columns >= 0)
            self.columns = columns[self.known]
            # rows (n, n_run_items) @ projection -> rows (n, n_model_items)
            self.projection = sp.csr_matrix(
                (np.ones(self.known.size, dtype=np.float32), (self.known, self.columns)),
                shape=(self.n_items, len(model_items)),
            )
        if not getattr(model, "personalized", True):
            scores = np.asarray(model.score_from_rows(sp.csr_matrix((1, len(model_items))))[0])
            if self.projection is None:
                self.shared_scores = scores.astype(np.float32)
            else:
                self.shared_scores = np.full(self.n_items, -np.inf, dtype=np.float32)
                self.shared_scores[self.known] = scores[self.columns]

    def recommend(
        self, user_ids: Any, user_items: sp.csr_matrix, n: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        seen = sp.csr_matrix(user_items[np.asarray(user_ids)], dtype=np.float32)
        if self.shared_scores is not None:
            if exclude_seen:
                return top_k_shared(self.shared_scores, n, exclude=seen)
            return top_k_shared(self.shared_scores, n, exclude=sp.csr_matrix(seen.shape))
        source = user_items if self.score_rows is None else self.score_rows
        rows = sp.csr_matrix(source[np.asarray(user_ids)], dtype=np.float32)
        if self.projection is None:
            scores = self.model.score_from_rows(rows)
        else:
            model_scores = self.model.score_from_rows(sp.csr_matrix(rows @ self.projection))
            scores = np.full((rows.shape[0], self.n_items), -np.inf, dtype=np.float32)
            scores[:, self.known] = np.asarray(model_scores)[:, self.columns]
        if self.discount is not None:
            scores = discounted(scores, self.discount)
        return top_k(scores, n, exclude=seen if exclude_seen else None)


def holdout_metrics(
    model: Recommender,
    *,
    model_items: IdIndex,
    items: IdIndex,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    k: int,
    score_rows: sp.csr_matrix | None = None,
    max_shoppers: int | None = None,
    popularity_penalty: float | None = None,
) -> dict[str, float]:
    """NDCG@k, recall@k, MAP@k, precision, hit rate, coverage, novelty on the holdout.

    Shoppers are scored from ``score_rows`` (``train`` when None); ``train`` is excluded.
    A personal model's positive scores are divided by each product's shoppers in ``train``
    to the power ``popularity_penalty`` (serving divides by the model's own training shoppers).
    Past ``max_shoppers`` a seeded sample of them is scored, the same for every model given
    the same holdout, with the interval it implies (``ndcg@k_ci95``).
    """
    discount = None
    if popularity_penalty:
        support = np.bincount(train.indices, minlength=train.shape[1])
        discount = popularity_discount(support, popularity_penalty)
    aligned = AlignedModel(
        model, model_items=model_items, items=items, score_rows=score_rows, discount=discount
    )
    return evaluate(aligned, train, test, k=k, batch_size=512, max_users=max_shoppers)
