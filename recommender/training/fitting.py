"""Fitting one algorithm on a run's data with the configured settings: what a training run and
a replay (``recommender.replay``) share, so the replayed models are the ones a run would fit."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.training.content import catalog_features, reindex_columns
from recommender.training.dataset import EventArrays, TrainingData, build_training_data


def configured_training_data(events: EventArrays) -> TrainingData:
    """``events`` as a run builds them: weights, decay, holdout and serving rows from settings."""
    return build_training_data(
        events,
        kind_weights=settings.SHELFWISE_EVENT_WEIGHTS,
        half_life_days=settings.SHELFWISE_HALF_LIFE_DAYS,
        value_transform=settings.SHELFWISE_VALUE_TRANSFORM,
        holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION,
        # The holdout scores each shopper from the rows serving would build for them.
        realtime_half_life_hours=settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS,
        recent_events=settings.SHELFWISE_RECENT_EVENTS,
    )


def new_model(algorithm: str, params: dict) -> Recommender:
    """An unfitted ``algorithm`` with ``params`` (a run's effective params)."""
    return ALGORITHMS[algorithm](**params)


def over_item_limit(model: Recommender, data: TrainingData) -> str | None:
    """Why ``model`` cannot be fitted on ``data`` (e.g. EASE past ``max_items``), else None."""
    limit = getattr(model, "max_items", None)
    if limit is not None and len(data.items) > limit:
        # e.g. EASE inverts an items×items matrix: past its limit it would not fit in memory.
        return f"{len(data.items):,} products exceed its limit of {limit:,}"
    return None


def fit_model(model: Recommender, *, algorithm: str, data: TrainingData) -> tuple[IdIndex, dict]:
    """Fit ``model`` on ``data``'s training part (its own half-life; a feature index on the whole
    active catalog); returns the model's item index and facts worth recording."""
    half_life = settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS.get(
        algorithm, settings.SHELFWISE_HALF_LIFE_DAYS
    )
    train = data.train_with_half_life(half_life)
    if not getattr(model, "needs_item_features", False):
        model.fit(train)
        return data.items, {}
    # A feature index covers the catalog, products without events included (new arrivals).
    features = catalog_features(training_items=data.items)
    train = reindex_columns(train, source=data.items, target=features.items)
    model.fit(train, **features.arrays())
    extra = {
        "catalog_items": len(features.items),
        "items_without_events": int(len(features.items) - np.count_nonzero(train.getnnz(0))),
    }
    return features.items, extra
