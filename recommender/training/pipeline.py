"""The training pipeline of one run: load events, tune, fit, evaluate, refit, save, promote.

1. The window's events are split at the last SHELFWISE_HOLDOUT_FRACTION of time: the holdout
   decides promotion and is never used to choose anything.
2. Per-shop tuning (``tuning.tuned_configurations``) chooses each algorithm's configuration on a
   validation window carved from the events before the holdout.
3. Each algorithm is fitted with its configuration on the events before the holdout and scored
   on it, beside the serving champion's configuration on the same split (``versions``).
4. The configuration is fitted again on the whole window, so the newest weeks reach serving,
   and that model is saved and versioned.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError

from behavior.kinds import event_weights
from recommender.artifacts import artifact_path, delete_artifact, write_artifact
from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.models import ModelVersion, TrainingRun
from recommender.training.champion import ChampionScore
from recommender.training.content import item_support
from recommender.training.dataset import (
    EventArrays,
    TrainingData,
    TrainingDataError,
    build_training_data,
    load_events,
)
from recommender.training.fitting import Configuration
from recommender.training.isolation import FitCrashed, fit_isolated
from recommender.training.leftovers import note_artifacts
from recommender.training.progress import RunProgress
from recommender.training.repeat import buy_again_for_run
from recommender.training.tuning import (
    budget_shares,
    default_configurations,
    preferred,
    tuned_configurations,
)
from recommender.training.versions import (
    champion_score,
    holdout_key,
    record_versions,
    score_on_holdout,
)

logger = logging.getLogger(__name__)


@dataclass
class Fitted:
    algorithm: str
    model: Recommender
    configuration: Configuration
    metrics: dict
    champion: ChampionScore
    # The model's item index: the matrix's items, or the catalog for feature models.
    items: IdIndex
    users: IdIndex
    # Distinct shoppers per item of ``items`` in the data the saved model was fitted on.
    support: np.ndarray
    artifact: str = ""
    timings: dict = field(default_factory=dict)

    @property
    def is_feature_index(self) -> bool:
        return bool(getattr(self.model, "needs_item_features", False))


def describe_failure(exc: BaseException) -> str:
    """The error as a run or an algorithm records it: the message, and for a bug the trace."""
    if isinstance(exc, TrainingDataError | FitCrashed):
        return f"{type(exc).__name__}: {exc}"
    lines = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n\n{''.join(lines[-6:])}"


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


def fit_algorithms(
    algorithms: list[str],
    *,
    configurations: dict[str, Configuration],
    data: TrainingData,
    whole: TrainingData | None,
    progress: Callable[[float, str], None],
    percent: tuple[float, float],
    log_label: str,
    compare_champions: bool = True,
    defaults: dict[str, Configuration] | None = None,
) -> tuple[list[Fitted], dict[str, dict[str, str]]]:
    """Fit each algorithm on ``data``, score it on its holdout (beside its champion unless
    ``compare_champions`` is off) and fit it again on ``whole`` when given; one that fails
    costs only itself. A configuration a search chose serves only when it also beats the
    algorithm's ``defaults`` on the holdout (``_tuned_or_defaults``).

    Returns the fitted models and, under "skipped" and "failed", why the others have no
    version. An algorithm whose fit raises is recorded with its cause and the next one fits;
    at the run's soft time limit the one fitting is recorded as timed out and the rest are not
    started, so the fitted ones are still saved before the hard limit. When nothing was fitted,
    the first failure is raised and fails the run as before. A database error is the run's, not
    the algorithm's, and is raised at once.
    """
    fitted: list[Fitted] = []
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    first_failure: Exception | None = None
    start, share = percent[0], (percent[1] - percent[0]) / len(algorithms)
    for index, algorithm in enumerate(algorithms):
        try:
            configuration = configurations[algorithm]
            # Instantiated first: an item limit (EASE's max_items) may be a hyper-parameter.
            limit = getattr(ALGORITHMS[algorithm](**configuration.params), "max_items", None)
            if limit is not None and len(data.items) > limit:
                # e.g. EASE inverts an items×items matrix: past its limit it would not fit.
                skipped[algorithm] = f"{len(data.items):,} products exceed its limit of {limit:,}"
                continue
            fitted.append(
                _fit_and_evaluate(
                    algorithm,
                    configuration,
                    data=data,
                    whole=whole,
                    label=f"{algorithm} {index + 1}/{len(algorithms)}",
                    progress=progress,
                    percent=(start + share * index, share),
                    compare_champion=compare_champions,
                    defaults=(defaults or {}).get(algorithm),
                )
            )
        except (DatabaseError, InterfaceError):
            raise
        except SoftTimeLimitExceeded as exc:
            first_failure = first_failure or exc
            failed[algorithm] = "Timed out: the run reached its soft time limit while fitting it."
            for later in algorithms[index + 1 :]:
                failed[later] = f"Not started: the run reached its time limit during {algorithm}."
            logger.error("%s: %s timed out", log_label, algorithm)
            break
        except Exception as exc:
            first_failure = first_failure or exc
            failed[algorithm] = describe_failure(exc)[:4_000]
            logger.exception("%s: %s failed; fitting the others", log_label, algorithm)
    if first_failure is not None and not fitted:
        raise first_failure
    outcome = {"skipped": skipped, "failed": failed}
    return fitted, {key: value for key, value in outcome.items() if value}


def _fit_and_evaluate(
    algorithm: str,
    configuration: Configuration,
    *,
    data: TrainingData,
    whole: TrainingData | None,
    label: str,
    progress: Callable[[float, str], None],
    percent: tuple[float, float],
    compare_champion: bool,
    defaults: Configuration | None = None,
) -> Fitted:
    """Fit and score one algorithm; ``percent`` is (where its share of progress starts, its
    size)."""
    start, share = percent
    progress(start, f"fitting {label}")
    mark = time.perf_counter()
    # A model blind to the events (the content index) is fitted once, on the whole window:
    # the holdout scores it without any of its events having reached the fit.
    blind = not getattr(ALGORITHMS[algorithm], "reads_interactions", True)
    fitted_on = whole if blind and whole is not None else data
    model, model_items, extra = fit_isolated(algorithm, configuration, data=fitted_on)
    timings = {"fit": time.perf_counter() - mark}
    progress(start + share * 0.4, f"evaluating {label}")
    mark = time.perf_counter()
    k = settings.SHELFWISE_EVAL_K
    metrics = score_on_holdout(
        model,
        model_items=model_items,
        data=data,
        configuration=configuration,
    )
    timings["evaluate"] = time.perf_counter() - mark
    if defaults is not None and not configuration.fits_and_serves_like(defaults) and data.test.nnz:
        progress(start + share * 0.5, f"checking {label} against its defaults")
        mark = time.perf_counter()
        configuration, model, model_items, extra, metrics = _tuned_or_defaults(
            algorithm,
            tuned=(configuration, model, model_items, extra, metrics),
            defaults=defaults,
            data=data,
        )
        timings["check_defaults"] = time.perf_counter() - mark
    mark = time.perf_counter()
    champion = (
        champion_score(
            algorithm, data=data, candidate=configuration, candidate_ndcg=metrics[f"ndcg@{k}"]
        )
        if compare_champion
        else ChampionScore(None)
    )
    timings["evaluate_champion"] = time.perf_counter() - mark
    source = fitted_on
    if whole is not None and fitted_on is not whole:
        progress(start + share * 0.75, f"refitting {label} on the whole window")
        mark = time.perf_counter()
        model, model_items, extra = fit_isolated(algorithm, configuration, data=whole)
        timings["refit"] = time.perf_counter() - mark
        source = whole
    metrics = {
        **metrics,
        **extra,
        **{f"{name}_seconds": round(v, 3) for name, v in timings.items()},
    }
    return Fitted(
        algorithm,
        model,
        configuration,
        metrics,
        champion,
        items=model_items,
        users=source.users,
        support=item_support(source.train, source=source.items, target=model_items),
        timings=timings,
    )


def _tuned_or_defaults(
    algorithm: str,
    *,
    tuned: tuple[Configuration, Recommender, IdIndex, dict, dict[str, float]],
    defaults: Configuration,
    data: TrainingData,
) -> tuple[Configuration, Recommender, IdIndex, dict, dict[str, float]]:
    """The tuned fit, or the defaults' when they score higher on the holdout (within
    SHELFWISE_COVERAGE_TIE_TOLERANCE of each other: the one with more catalog coverage,
    ``tuning.preferred``).

    A search chooses on a validation window before the holdout and can fit that window's
    accidents: on MovieLens-100k it chose an EASE that its own holdout scored 0.084 against
    the defaults' 0.126, and the replay's test agreed (0.75x against 0.92x of a tuned EASE).
    Both scores are kept in the metrics, under ``holdout_ndcg@k_tuned`` and ``_defaults``.
    """
    configuration, model, model_items, extra, metrics = tuned
    key = f"ndcg@{settings.SHELFWISE_EVAL_K}"
    plain, plain_items, plain_extra = fit_isolated(algorithm, defaults, data=data)
    plain_metrics = score_on_holdout(
        plain, model_items=plain_items, data=data, configuration=defaults
    )
    compared = {f"holdout_{key}_tuned": metrics[key], f"holdout_{key}_defaults": plain_metrics[key]}
    # Within the tie tolerance of each other, the one showing more of the catalog serves.
    scored = [(m[key], m.get("coverage", 0.0)) for m in (metrics, plain_metrics)]
    if preferred(scored, tolerance=settings.SHELFWISE_COVERAGE_TIE_TOLERANCE) == 1:
        logger.info(
            "%s: the tuned configuration scored %.4f on the holdout, its defaults %.4f: "
            "the defaults serve",
            algorithm,
            metrics[key],
            plain_metrics[key],
        )
        return (
            defaults,
            plain,
            plain_items,
            plain_extra,
            {**plain_metrics, **compared, "tuned_kept": 0.0},
        )
    return configuration, model, model_items, extra, {**metrics, **compared, "tuned_kept": 1.0}
