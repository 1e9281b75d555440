"""Scratch models for a replay: fitted by the training pipeline's own code on the events before
the cut, held in memory as serving models (no artifact, no ModelVersion, no champion change)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings

from recommender.serving.model_cache import SearchIndex, ServingModel
from recommender.training.content import item_support
from recommender.training.dataset import load_events
from recommender.training.fitting import (
    configured_training_data,
    fit_model,
    new_model,
    over_item_limit,
)
from recommender.training.services import holdout, resolve_algorithms

Track = Callable[..., Iterable]


def fit_scratch_models(
    *, until: datetime, algorithms: list[str] | None, track: Track
) -> tuple[dict[str, ServingModel], dict]:
    """Algorithm → its model fitted as a run at ``until`` would fit it (window, holdout, params
    and half-lives from settings), with the holdout NDCG "auto" serving picks by; and facts."""
    events = load_events(window_days=settings.SHELFWISE_TRAINING_WINDOW_DAYS, until=until)
    data = configured_training_data(events)
    k = settings.SHELFWISE_EVAL_K
    models: dict[str, ServingModel] = {}
    facts: dict = {"training_events": len(events), "skipped": {}, "models": {}}
    names = resolve_algorithms(algorithms)
    for number, name in enumerate(track(names, desc="fit", unit="model")):
        model = new_model(name, settings.SHELFWISE_ALGORITHM_PARAMS.get(name, {}))
        if reason := over_item_limit(model, data):
            facts["skipped"][name] = reason
            continue
        started = time.perf_counter()
        items, _extra = fit_model(model, algorithm=name, data=data)
        metrics = holdout(model, model_items=items, data=data, k=k)
        served = ServingModel(
            # Negative ids can never name a stored version (nor share a cache entry with one).
            version_id=-(number + 1),
            uuid=f"replay-{name}",
            algorithm=name,
            model=model,
            items=items,
            ndcg=metrics.get(f"ndcg@{k}"),
            support=item_support(data.train, source=data.items, target=items),
        )
        if served.is_feature_index:
            served.search = SearchIndex(model)
        models[name] = served
        facts["models"][name] = {
            "holdout_ndcg@10": served.ndcg,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return models, facts


def is_personal(model: ServingModel) -> bool:
    """A model that can serve "for you" on its own (not popularity, not the content index)."""
    return model.personalized and not model.is_feature_index


def serving_variants(models: dict[str, ServingModel]) -> dict[str, dict[str, ServingModel]]:
    """ "auto" (every model, serving picks as configured) and each personal model forced."""
    shared = {name: m for name, m in models.items() if not is_personal(m)}
    variants = {"auto": models}
    for name, model in models.items():
        if is_personal(model):
            variants[name] = {**shared, name: model}
    return variants
