"""Scratch models for a replay: fitted by the training pipeline's own code on the events before
the cut, held in memory as serving models (no artifact, no ModelVersion, no champion change)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

from django.conf import settings

from recommender.serving.model_cache import SearchIndex, ServingModel
from recommender.serving.repeat_model import RepeatServing
from recommender.training.algorithm_fits import fit_algorithms
from recommender.training.dataset import EventArrays, TrainingData, load_events
from recommender.training.fitting import Configuration
from recommender.training.pipeline import split_events
from recommender.training.repeat import train_repeat
from recommender.training.services import resolve_algorithms
from recommender.training.tuning import (
    choose_configurations,
    default_configurations,
    search_spaces,
)

Track = Callable[..., Iterable]


def fit_scratch_models(
    *,
    until: datetime,
    algorithms: list[str] | None,
    track: Track,
    tuning_budget_seconds: float | None = None,
    configurations: dict[str, Configuration] | None = None,
) -> tuple[dict[str, ServingModel], dict, RepeatServing | None]:
    """Algorithm → its model fitted as a training run at ``until`` would fit it (window,
    holdout, per-shop tuning, refit on the whole window), with the holdout NDCG "auto" serving
    picks by; facts; and the buy-again model such a run would serve (None: it keeps the
    frequency ranking). Tuning starts cold: a later run's choice would carry later data.
    ``configurations`` (algorithm → its configuration, e.g. the champions' own) fits exactly
    those algorithms as configured, with no tuning and no buy-again model."""
    events = load_events(window_days=settings.SHELFWISE_TRAINING_WINDOW_DAYS, until=until)
    data = split_events(events, holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION)
    whole = None
    if settings.SHELFWISE_REFIT_WHOLE_WINDOW and data.test.nnz:
        whole = split_events(events, holdout_fraction=0.0)
    names = list(configurations) if configurations is not None else resolve_algorithms(algorithms)
    budget = (
        settings.SHELFWISE_TUNING_BUDGET_SECONDS
        if tuning_budget_seconds is None
        else tuning_budget_seconds
    )
    tuned = [name for name in names if name in search_spaces()]
    k = settings.SHELFWISE_EVAL_K
    models: dict[str, ServingModel] = {}
    facts: dict = {"training_events": len(events), "skipped": {}, "failed": {}, "models": {}}
    for number, name in enumerate(track(names, desc="tune and fit", unit="model")):
        started = time.perf_counter()
        if configurations is not None:
            chosen, tuning, defaults = {name: configurations[name]}, {}, None
        else:
            chosen, tuning = _tuned(name, data=data, budget=budget / max(len(tuned), 1))
            defaults = default_configurations([name], params=_configured(name))
        fitted, left_out = fit_algorithms(
            [name],
            configurations=chosen,
            defaults=defaults,
            data=data,
            whole=whole,
            progress=_quiet,
            percent=(0, 100),
            log_label="replay",
            compare_champions=False,
        )
        for kind, reasons in left_out.items():
            facts.setdefault(kind, {}).update(reasons)
        if not fitted:
            continue
        item = fitted[0]
        served = ServingModel(
            # Negative ids can never name a stored version (nor share a cache entry with one).
            version_id=-(number + 1),
            uuid=f"replay-{name}",
            algorithm=name,
            model=item.model,
            items=item.items,
            ndcg=item.metrics.get(f"ndcg@{k}"),
            support=item.support,
            realtime_half_life_hours=item.configuration.realtime_half_life_hours,
            realtime_row_log1p=bool(item.configuration.realtime_row_log1p),
            popularity_penalty=float(item.configuration.popularity_penalty or 0.0),
        )
        if served.is_feature_index:
            served.search = SearchIndex(item.model)
        models[name] = served
        facts["models"][name] = {
            "holdout_ndcg@10": served.ndcg,
            "configuration": item.configuration.as_dict(),
            "tuning": tuning.get(name),
            "seconds": round(time.perf_counter() - started, 1),
        }
    if configurations is not None:  # exactly the configured models (a what-if): no buy-again
        return models, facts, None
    repeat = _scratch_repeat(events, data, budget_seconds=budget / (len(names) + 1), facts=facts)
    return models, facts, repeat


def _scratch_repeat(
    events: EventArrays, data: TrainingData, *, budget_seconds: float, facts: dict
) -> RepeatServing | None:
    """The buy-again model as a training run on ``events`` chooses it (``training.repeat``)."""
    started = time.perf_counter()
    training = train_repeat(
        events,
        holdout_start=data.holdout_start.timestamp() if data.holdout_start else None,
        budget_seconds=budget_seconds,
        k=settings.SHELFWISE_EVAL_K,
        holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION,
    )
    record = {} if training is None else dict(training.record)
    facts["buy_again_model"] = {**record, "seconds": round(time.perf_counter() - started, 1)}
    if training is None or training.model is None:
        return None
    return RepeatServing(training.model, training.items, training.users, source="repeat:replay")


def _tuned(name: str, *, data, budget: float) -> tuple[dict[str, Configuration], dict]:
    """The configured parameters of ``name``, tuned on ``data`` for ``budget`` seconds."""
    return choose_configurations(
        [name],
        params=_configured(name),
        pinned=set(),
        budget_seconds=budget,
        data=data,
        warm_start={},
        progress=_quiet,
    )


def _configured(name: str) -> dict[str, dict]:
    return {name: settings.SHELFWISE_ALGORITHM_PARAMS.get(name, {})}


def _quiet(_percent: float, _stage: str) -> None:
    """Replays show progress per model (``track``), not per stage."""


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
