"""One trial of a search: a configuration fitted (or a kept fit reused) and scored on the
validation window, and the fitted models a search keeps between its trials."""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from recommender.core import Recommender
from recommender.core.matrix import IdIndex
from recommender.training.dataset import TrainingData
from recommender.training.evaluation import holdout_metrics
from recommender.training.fitting import Configuration
from recommender.training.isolation import fit_isolated

# A model this small is kept beside the next trial's fit for the popularity penalty's sweep
# (Online Retail's EASE: 52 MB); EASE at 60k products (2 GB) is refitted instead, time allowing.
HELD_BYTES = 512 * 2**20


class Scored(NamedTuple):
    """One trial's validation NDCG@k and coverage@k, its fitted model, and what each took."""

    ndcg: float
    coverage: float
    model: Recommender
    items: IdIndex
    fit_seconds: float
    score_seconds: float


def score_trial(
    algorithm: str,
    configuration: Configuration,
    *,
    validation: TrainingData,
    k: int,
    max_shoppers: int | None,
    timeout: float | None = None,
    fitted: tuple[Recommender, IdIndex] | None = None,
) -> Scored:
    """``configuration`` fitted (unless ``fitted``: a model fitted the same way, so one that
    differs only in how it serves is not fitted again) and scored on the validation window."""
    mark = time.perf_counter()
    if fitted is None:
        model, model_items, _notes = fit_isolated(
            algorithm, configuration, data=validation, timeout=timeout
        )
    else:
        model, model_items = fitted
    fit_seconds, mark = time.perf_counter() - mark, time.perf_counter()
    metrics = holdout_metrics(
        model,
        model_items=model_items,
        items=validation.items,
        train=validation.train,
        test=validation.test,
        k=k,
        score_rows=validation.rows_with_half_life(
            configuration.realtime_half_life_hours, log1p=configuration.realtime_row_log1p
        ),
        max_shoppers=max_shoppers,
        popularity_penalty=configuration.popularity_penalty,
    )
    score, coverage = float(metrics[f"ndcg@{k}"]), float(metrics["coverage"])
    return Scored(
        score if math.isfinite(score) else 0.0,
        coverage,
        model,
        model_items,
        fit_seconds,
        time.perf_counter() - mark,
    )


class Fits:
    """The fitted models a search keeps, so a trial differing only in how it serves (live
    half-life, popularity penalty) is not fitted again: the latest until the next fit, and the
    best so far when it is small (``HELD_BYTES``), never two large ones at once."""

    def __init__(self) -> None:
        self.latest: tuple[Configuration, Recommender, IdIndex] | None = None
        self.best: tuple[Configuration, Recommender, IdIndex] | None = None
        self.best_ndcg = -math.inf
        self.fit_seconds = 0.0  # the slowest fit seen: what a sweep's refit may cost
        self._scorings: list[float] = []

    def find(self, configuration: Configuration) -> tuple[Recommender, IdIndex] | None:
        """A kept model fitted as ``configuration`` is; None (and the latest dropped before
        the fit that follows) when there is none."""
        for held in (self.best, self.latest):
            if held is not None and held[0].fits_like(configuration):
                return held[1], held[2]
        self.latest = None
        return None

    @property
    def score_seconds(self) -> float:
        """What one more scoring of a kept fit costs: the median seen. Not the slowest: a trial
        at a new live half-life builds its validation rows first (on Online Retail ~2 s against
        0.1-0.2 s for a sweep step, so the slowest over-reserved ten times)."""
        return float(np.median(self._scorings)) if self._scorings else 0.0

    def holds(self, configuration: Configuration) -> bool:
        """Whether a model fitted as ``configuration`` is kept."""
        return any(
            h is not None and h[0].fits_like(configuration) for h in (self.best, self.latest)
        )

    def keep(self, configuration: Configuration, scored: Scored) -> None:
        held = (configuration, scored.model, scored.items)
        self.latest = held
        self.fit_seconds = max(self.fit_seconds, scored.fit_seconds)
        self._scorings.append(scored.score_seconds)
        if scored.ndcg > self.best_ndcg:
            self.best_ndcg = scored.ndcg
            self.best = held if model_bytes(scored.model) <= HELD_BYTES else None


def model_bytes(model: Recommender) -> int:
    """The bytes of a model's arrays and sparse matrices (its attributes, one level deep)."""
    total = 0
    for value in vars(model).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif sp.issparse(value):
            parts = ("data", "indices", "indptr")
            total += sum(getattr(value, part).nbytes for part in parts if hasattr(value, part))
    return total
