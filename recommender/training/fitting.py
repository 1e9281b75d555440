"""Fitting one algorithm with one configuration: the step tuning, evaluation, the champion's
comparison and the refit on the whole window all share."""

from __future__ import annotations

import numpy as np

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.training.content import catalog_features, reindex_columns
from recommender.training.dataset import TrainingData
from recommender.training.tuning import Configuration


def fit_configuration(
    algorithm: str, configuration: Configuration, *, data: TrainingData
) -> tuple[Recommender, IdIndex, dict]:
    """``algorithm`` fitted with ``configuration`` on ``data.train``: (model, its items, notes).

    A feature index (content) covers the whole catalog, products without events included.
    """
    model = ALGORITHMS[algorithm](**configuration.params)
    train = data.train_with_half_life(configuration.half_life_days)
    if not getattr(model, "needs_item_features", False):
        model.fit(train)
        return model, data.items, {}
    features = catalog_features(training_items=data.items)
    train = reindex_columns(train, source=data.items, target=features.items)
    model.fit(train, **features.arrays())
    return (
        model,
        features.items,
        {
            "catalog_items": len(features.items),
            "items_without_events": int(len(features.items) - np.count_nonzero(train.getnnz(0))),
        },
    )
