"""Fitting one algorithm with one configuration: the step tuning, evaluation, the champion's
comparison and the refit on the whole window all share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.training.content import CatalogFeatures, catalog_features, reindex_columns
from recommender.training.dataset import TrainingData
from recommender.training.spark.trainer import fit_on_spark, fits_on_spark

HALF_LIFE = "half_life_days"  # not a model parameter: the decay of the matrix it is fitted on


@dataclass
class Configuration:
    """What an algorithm is fitted with: its parameters and its matrix's half-life."""

    params: dict[str, Any]
    half_life_days: float | None

    def as_dict(self) -> dict[str, Any]:
        return {**self.params, HALF_LIFE: self.half_life_days}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Configuration:
        values = dict(values)
        return cls(params=values, half_life_days=values.pop(HALF_LIFE, None))


@dataclass
class PreparedFit:
    """One fit with everything it reads from the database: what a child process runs alone."""

    algorithm: str
    configuration: Configuration
    data: TrainingData
    features: CatalogFeatures | None = None

    @property
    def items(self) -> IdIndex:
        """The fitted model's item index: the matrix's, or the catalog's for a feature index."""
        return self.data.items if self.features is None else self.features.items

    def fit(self) -> tuple[Recommender, dict]:
        """(the fitted model, notes): numeric work only, no database, so a forked child can."""
        train = self.data.train_with_half_life(self.configuration.half_life_days)
        if fits_on_spark(self.algorithm):  # SHELFWISE_TRAINER=spark
            return fit_on_spark(self.algorithm, self.configuration.params, train)
        model = ALGORITHMS[self.algorithm](**self.configuration.params)
        if self.features is None:
            model.fit(train)
            return model, {}
        train = reindex_columns(train, source=self.data.items, target=self.features.items)
        model.fit(train, **self.features.arrays())
        n_items = len(self.features.items)
        return model, {
            "catalog_items": n_items,
            "items_without_events": int(n_items - np.count_nonzero(train.getnnz(0))),
        }


def prepare_fit(algorithm: str, configuration: Configuration, *, data: TrainingData) -> PreparedFit:
    """``algorithm``'s fit on ``data.train``, with the catalog's features read if it needs them.

    A feature index (content) covers the whole catalog, products without events included.
    """
    if not getattr(ALGORITHMS[algorithm], "needs_item_features", False):
        return PreparedFit(algorithm, configuration, data)
    return PreparedFit(algorithm, configuration, data, catalog_features(training_items=data.items))


def fit_configuration(
    algorithm: str, configuration: Configuration, *, data: TrainingData
) -> tuple[Recommender, IdIndex, dict]:
    """``algorithm`` fitted with ``configuration`` on ``data.train``: (model, its items, notes),
    in this process (``isolation.fit_isolated`` fits in a child process)."""
    prepared = prepare_fit(algorithm, configuration, data=data)
    model, notes = prepared.fit()
    return model, prepared.items, notes
