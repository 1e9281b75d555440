"""The training pipeline of one run: load events, tune, fit, evaluate, refit, save, promote.

1. The window's events are split at the last SHELFWISE_HOLDOUT_FRACTION of time: the holdout
   decides promotion and is never used to choose anything.
2. Per-shop tuning (``tuning.tuned_configurations``) chooses each algorithm's configuration on a
   validation window carved from the events before the holdout.
3. Each algorithm is fitted with its configuration on the events before the holdout and scored
   on it, beside the serving champion's configuration on the same split (``versions``).
4. What can serve after the run is fitted again on the whole window, so the newest weeks reach
   serving (``algorithm_fits.refit_servable``), and every model is saved and versioned.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from behavior.kinds import event_weights
from recommender.artifacts import artifact_path, delete_artifact, write_artifact
from recommender.models import ModelVersion, TrainingRun
from recommender.training.algorithm_fits import fit_algorithms, refit_servable
from recommender.training.dataset import (
    EventArrays,
    TrainingData,
    build_training_data,
    load_events,
)
from recommender.training.leftovers import note_artifacts
from recommender.training.progress import RunProgress
from recommender.training.repeat import buy_again_for_run
from recommender.training.tuning import (
    budget_shares,
    default_configurations,
    tuned_configurations,
)
from recommender.training.versions import (
    holdout_key,
    record_versions,
)


def train_models(*, run: TrainingRun, progress: RunProgress) -> list[ModelVersion]:
    """Tune, fit, evaluate, refit, save and (if good enough) promote every algorithm of a
    running ``run``.

    Versions, promotions and the run's success are committed in one transaction at the end, so
    a run that fails at any step leaves no version and no champion change behind.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    progress(1, "loading events")
    events = load_events(
        window_days=settings.SHELFWISE_TRAINING_WINDOW_DAYS,
        on_chunk=lambda done, total: progress(
            1 + 14 * done / max(total, 1), f"loading events {done:,}/{total:,}"
        ),
    )
    timings["load_events"] = time.perf_counter() - started
    progress(15, "building matrix")
    mark = time.perf_counter()
    data = split_events(events, holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION)
    timings["build_matrix"] = time.perf_counter() - mark
    _record_data(run, events=events, data=data)
    mark = time.perf_counter()
    configurations, tuning_share = tuned_configurations(run, data=data, progress=progress)
    timings["tuning"] = time.perf_counter() - mark
    mark = time.perf_counter()
    progress(15 + tuning_share, "buy again: tuning and fitting")
    buy_again = buy_again_for_run(
        events=events,
        holdout_start=data.holdout_start.timestamp() if data.holdout_start else None,
        budget_seconds=budget_shares(run)[1],
    )
    # Its path is recorded now but served only once the run succeeds, after it is written.
    run.stats = {**TrainingRun.objects.get(pk=run.pk).stats, "buy_again": buy_again.record}
    TrainingRun.objects.filter(pk=run.pk).update(stats=run.stats)
    timings["buy_again"] = time.perf_counter() - mark
    # The newest weeks reach serving: the chosen configurations are fitted again on them too.
    whole = None
    if settings.SHELFWISE_REFIT_WHOLE_WINDOW and data.test.nnz:
        whole = split_events(events, holdout_fraction=0.0)
    fitted, left_out = fit_algorithms(
        run.algorithms,
        configurations=configurations,
        defaults=default_configurations(run.algorithms, params=run.params),
        data=data,
        whole=whole,
        progress=progress,
        percent=(15 + tuning_share, 90),
        log_label=f"training run {run.pk}",
        refit=refit_servable,
    )
    if left_out:
        run.stats = {**TrainingRun.objects.get(pk=run.pk).stats, **left_out}
        TrainingRun.objects.filter(pk=run.pk).update(stats=run.stats)
    progress(90, "saving artifacts")
    mark = time.perf_counter()
    keys = {item.algorithm: uuid.uuid4() for item in fitted}
    # Noted before writing: an attempt killed from here on leaves folders no version points at,
    # which the run's next success or the reconciler deletes (leftovers).
    note_artifacts(
        run.pk, [*(artifact_path(algorithm=a, key=k) for a, k in keys.items()), *buy_again.paths]
    )
    try:
        buy_again.write()
        for item in fitted:
            item.artifact = write_artifact(
                model=item.model,
                items=item.items,
                users=item.users,
                algorithm=item.algorithm,
                key=keys[item.algorithm],
                support=item.support,
            )
        timings["save_artifacts"] = time.perf_counter() - mark
        progress(96, "promoting")
        timings["total"] = time.perf_counter() - started
        return record_versions(run, fitted=fitted, has_holdout=bool(data.test.nnz), timings=timings)
    except BaseException:
        for item in fitted:  # nothing points at them: remove the leftovers
            if item.artifact:
                delete_artifact(item.artifact)
        if buy_again.attempted:  # only a succeeded run's buy-again model serves
            delete_artifact(buy_again.record["artifact"])
        raise


def split_events(events: EventArrays, *, holdout_fraction: float) -> TrainingData:
    return build_training_data(
        events,
        kind_weights=event_weights(),
        half_life_days=settings.SHELFWISE_HALF_LIFE_DAYS,
        value_transform=settings.SHELFWISE_VALUE_TRANSFORM,
        holdout_fraction=holdout_fraction,
        # The holdout scores each shopper from the rows serving would build for them.
        realtime_half_life_hours=settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS
        if holdout_fraction
        else None,
        recent_events=settings.SHELFWISE_SCORED_EVENTS,
    )


def _record_data(run: TrainingRun, *, events: EventArrays, data: TrainingData) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        window_start=events.window_start,
        window_end=events.window_end,
        holdout_start=data.holdout_start,
        n_events=data.n_events,
        n_shoppers=data.stats["n_shoppers_in_window"],
        n_products=data.stats["n_products_in_window"],
        n_interactions=int(data.train.nnz),
        stats={
            **run.stats,
            "data": data.stats,
            "holdout_fingerprint": holdout_key(data),
        },
    )
