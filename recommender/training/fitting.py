"""Fitting one algorithm with one configuration: the step tuning, evaluation, the champion's
comparison and the refit on the whole window all share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.conf import settings

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.training.content import CatalogFeatures, catalog_features, reindex_columns
from recommender.training.dataset import TrainingData
from recommender.training.spark.trainer import fit_on_spark, fits_on_spark

HALF_LIFE = "half_life_days"  # not a model parameter: the decay of the matrix it is fitted on
# Not a model parameter either: the half-life serving weighs the shopper's live events with
# when it scores them through this model (None: SHELFWISE_REALTIME_HALF_LIFE_HOURS).
REALTIME_HALF_LIFE = "realtime_half_life_hours"
# And whether each product's summed live weight is damped by log1p before scoring (a product
# bought weekly for a year no longer drowns the rest of the shopper's row). None: not damped.
REALTIME_LOG1P = "realtime_row_log1p"
# And how the training matrix's cells are transformed before the fit: "log1p", "binary" (a
# shop whose views drown in purchase weights may rank better on presence); None or "weighted":
# the kind x value weights as built.
MATRIX_TRANSFORM = "matrix_transform"
# And β of the popularity penalty serving ranks this model's personal lists with: each positive
# score divided by the product's training shoppers to the power β (``core.rerank``). 0 or None:
# no penalty.
POPULARITY_PENALTY = "popularity_penalty"
# The settings that change how a fitted model serves, not the fit: trials differing only in
# them score one fitted model (``tuning.tune``).
SERVING_SIDE = (REALTIME_HALF_LIFE, REALTIME_LOG1P, POPULARITY_PENALTY)


def unset_means() -> dict[str, Any]:
    """What a configuration that leaves a serving-side setting unset gets: the live half-life
    the settings give, no damping, the weighted matrix, no popularity penalty."""
    return {
        REALTIME_HALF_LIFE: settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS,
        REALTIME_LOG1P: False,
        MATRIX_TRANSFORM: "weighted",
        POPULARITY_PENALTY: 0.0,
    }


@dataclass
class Configuration:
    """What an algorithm is fitted with: its parameters and its matrix's half-life."""

    params: dict[str, Any]
    half_life_days: float | None
    realtime_half_life_hours: float | None = None
    realtime_row_log1p: bool | None = None
    matrix_transform: str | None = None
    popularity_penalty: float | None = None

    def as_dict(self) -> dict[str, Any]:
        values = {**self.params, HALF_LIFE: self.half_life_days}
        if self.realtime_half_life_hours is not None:
            values[REALTIME_HALF_LIFE] = self.realtime_half_life_hours
        if self.realtime_row_log1p is not None:
            values[REALTIME_LOG1P] = self.realtime_row_log1p
        if self.matrix_transform is not None:
            values[MATRIX_TRANSFORM] = self.matrix_transform
        if self.popularity_penalty is not None:
            values[POPULARITY_PENALTY] = self.popularity_penalty
        return values

    def fits_and_serves_like(self, other: Configuration) -> bool:
        """Whether ``other`` is the same configuration, its unset settings spelt out or not.

        A search records every searched setting where the configured defaults leave them
        unset (``unset_means``); both fit the same model and serve it the same way, so neither
        needs fitting twice.
        """
        return {**unset_means(), **self.as_dict()} == {**unset_means(), **other.as_dict()}

    def fits_like(self, other: Configuration) -> bool:
        """Whether ``other`` fits the same model, however it serves it (``SERVING_SIDE``)."""
        mine, theirs = ({**unset_means(), **c.as_dict()} for c in (self, other))
        return {k: v for k, v in mine.items() if k not in SERVING_SIDE} == {
            k: v for k, v in theirs.items() if k not in SERVING_SIDE
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Configuration:
        values = dict(values)
        return cls(
            params=values,
            half_life_days=values.pop(HALF_LIFE, None),
            realtime_half_life_hours=values.pop(REALTIME_HALF_LIFE, None),
            realtime_row_log1p=values.pop(REALTIME_LOG1P, None),
            matrix_transform=values.pop(MATRIX_TRANSFORM, None),
            popularity_penalty=values.pop(POPULARITY_PENALTY, None),
        )


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
        train = transformed(
            self.data.train_with_half_life(self.configuration.half_life_days),
            self.configuration.matrix_transform,
        )
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


def transformed(train: sp.csr_matrix, transform: str | None) -> sp.csr_matrix:
    """``train`` with its cells through ``transform`` ("log1p", "binary"; None/"weighted": as
    is)."""
    if transform in (None, "weighted"):
        return train
    if transform not in ("log1p", "binary"):
        raise ValueError(f"unknown matrix transform {transform!r}")
    out = train.copy()
    out.data = np.log1p(out.data) if transform == "log1p" else np.ones_like(out.data)
    return out
