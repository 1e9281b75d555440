"""Per-shop hyper-parameter search on a validation window, inside every training run.

Defaults tuned on one shop do not carry to another: item-kNN's BM25 settings from Online
Retail scored 0.005 NDCG@10 on the demo shop where popularity scored 0.07. So each run carves a
validation window off the end of its training events (never the holdout, which decides
promotion) and searches each algorithm's space (``search_spaces.toml``) with Optuna's TPE
sampler for a time budget, warm-started from the last run's best and the configured defaults.
Each trial fits on the events before the validation cut and scores the shoppers after it from
the rows serving would build for them (``holdout_metrics``), the same scoring the holdout uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from django.conf import settings
from django.db import DatabaseError, InterfaceError

from recommender.core import ALGORITHMS, FitError
from recommender.models import ModelVersion, TrainingRun
from recommender.training.dataset import TrainingData, TrainingDataError, build_training_data
from recommender.training.fitting import (
    Configuration,
    unset_means,
)
from recommender.training.isolation import FitCrashed
from recommender.training.progress import RunProgress
from recommender.training.search_space import (
    SWEEP,
    enqueue_long_memory,
    enqueue_sweep,
    none_of,
    search_spaces,
    suggest,
    within,
)
from recommender.training.trials import Fits, score_trial

logger = logging.getLogger(__name__)

# Share of a run's progress bar the search takes.
TUNING_PROGRESS = 25.0
# Below this many validation shoppers a search chases noise: keep the defaults.
MIN_VALIDATION_SHOPPERS = 30
# A searched trial's fit is stopped at the end of its algorithm's share of the budget, but never
# sooner than this.
MIN_TRIAL_SECONDS = 10.0
# Where each trial's catalog coverage@k is kept (``preferred`` breaks near-ties with it).
COVERAGE = "coverage"


@dataclass
class TuningResult:
    """The chosen configuration, how it scored on validation, and every trial."""

    algorithm: str
    chosen: Configuration
    score: float | None
    default_score: float | None
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""
    coverage: float | None = None  # the chosen trial's catalog coverage@k on validation

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready summary for the run's stats."""
        return {
            "chosen": self.chosen.as_dict(),
            "validation_ndcg": self.score,
            "default_validation_ndcg": self.default_score,
            "validation_coverage": self.coverage,
            "trials": self.trials,
            "seconds": round(self.seconds, 2),
            "note": self.note,
        }


def tuned_configurations(
    run: TrainingRun, *, data: TrainingData, progress: RunProgress
) -> tuple[dict[str, Configuration], float]:
    """Each algorithm's configuration for ``run``, and the share of progress tuning took.

    Parameters the run was started with (``stats["pinned"]``) are kept; the run's budget is its
    own or SHELFWISE_TUNING_BUDGET_SECONDS; the last successful run's choice is the warm start.
    Every trial is recorded under the run's ``stats["tuning"]``.
    """
    budget, _buy_again = budget_shares(run)
    configurations, records = choose_configurations(
        run.algorithms,
        params=run.params,
        pinned=set(run.stats.get("pinned", [])),
        budget_seconds=budget,
        data=data,
        warm_start=last_choices() if budget > 0 else {},
        progress=progress,
    )
    if not records:
        return configurations, 0.0
    stats = TrainingRun.objects.get(pk=run.pk).stats
    TrainingRun.objects.filter(pk=run.pk).update(stats={**stats, "tuning": records})
    return configurations, TUNING_PROGRESS


def budget_shares(run: TrainingRun) -> tuple[float, float]:
    """(the algorithms' search seconds, buy again's) out of the run's tuning budget: buy again
    takes one algorithm's share and the algorithms the rest, so the two together keep to it."""
    budget = float(run.stats.get("tuning_budget_seconds", settings.SHELFWISE_TUNING_BUDGET_SECONDS))
    buy_again = budget / (len(run.algorithms) + 1)
    return budget - buy_again, buy_again


def choose_configurations(
    algorithms: list[str],
    *,
    params: dict[str, dict],
    pinned: set[str],
    budget_seconds: float,
    data: TrainingData,
    warm_start: dict[str, dict],
    progress: Callable[[float, str], None],
) -> tuple[dict[str, Configuration], dict[str, Any]]:
    """(algorithm -> configuration, what tuning did): ``params`` with the configured half-lives,
    then each algorithm with a search space and not ``pinned`` tuned on a validation window
    carved from ``data``'s training events, ``budget_seconds`` shared among them (0: none)."""
    configurations = default_configurations(algorithms, params=params)
    spaces = search_spaces()
    tunable = [a for a in algorithms if a in spaces and a not in pinned]
    if budget_seconds <= 0 or not tunable:
        return configurations, {}
    progress(15, "tuning: carving the validation window")
    validation = validation_data(
        data,
        holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION,
        realtime_half_life_hours=settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS,
        recent_events=settings.SHELFWISE_SCORED_EVENTS,
    )
    if validation is None:
        return configurations, {
            "note": f"fewer than {MIN_VALIDATION_SHOPPERS} validation shoppers: defaults kept"
        }
    records: dict[str, Any] = {}
    share = budget_seconds / len(tunable)
    last_fits = last_fit_seconds(tunable)
    for index, algorithm in enumerate(tunable):
        progress(15 + TUNING_PROGRESS * index / len(tunable), f"tuning {algorithm}")
        limit = getattr(
            ALGORITHMS[algorithm](**configurations[algorithm].params), "max_items", None
        )
        if limit is not None and len(validation.items) > limit:
            records[algorithm] = {"note": f"not tuned: more than {limit:,} products"}
            continue
        if last_fits.get(algorithm, 0.0) > share:
            # One trial would spend the whole share (at 60k products one EASE fit took 164 s
            # of a 30 s share), so no search: the last run's choice (made on its own validation
            # window; the holdout still checks it against the defaults) or else the defaults
            # serve, and the other algorithms keep their time.
            note = (
                f"not tuned: its last fit took {last_fits[algorithm]:.0f} s, more than its "
                f"{share:.0f} s share of the tuning budget"
            )
            kept = {
                name: value
                for name, value in (warm_start.get(algorithm) or {}).items()
                if name in spaces[algorithm]
            }
            if not kept:
                records[algorithm] = {"note": note}
                continue
            configurations[algorithm] = Configuration.from_dict(
                {**configurations[algorithm].as_dict(), **kept}
            )
            records[algorithm] = {
                "chosen": configurations[algorithm].as_dict(),
                "note": f"{note}; the last run's choice is kept",
            }
            continue
        try:
            result = tune(
                algorithm,
                validation=validation,
                defaults=configurations[algorithm],
                budget_seconds=share,
                warm_start=warm_start.get(algorithm),
                k=settings.SHELFWISE_EVAL_K,
                max_shoppers=settings.SHELFWISE_EVAL_MAX_SHOPPERS,
            )
        except (DatabaseError, InterfaceError):
            raise
        except Exception as exc:  # a broken search keeps the defaults, never the run down
            logger.exception("tuning %s failed; keeping its defaults", algorithm)
            records[algorithm] = {"note": f"tuning failed: {exc}"[:500]}
            continue
        configurations[algorithm] = result.chosen
        records[algorithm] = result.as_record()
    return configurations, records


def default_configurations(
    algorithms: list[str], *, params: dict[str, dict]
) -> dict[str, Configuration]:
    """Each algorithm's configuration before any search: ``params`` (the settings' or the
    run's own) with the configured half-life and matrix transform."""
    return {
        algorithm: Configuration(
            dict(params.get(algorithm, {})),
            settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS.get(
                algorithm, settings.SHELFWISE_HALF_LIFE_DAYS
            ),
            matrix_transform=settings.SHELFWISE_ALGORITHM_MATRIX_TRANSFORM.get(algorithm),
        )
        for algorithm in algorithms
    }


def last_fit_seconds(algorithms: list[str]) -> dict[str, float]:
    """Seconds the newest version of each algorithm took to fit (its run's training window)."""
    newest: dict[str, float] = {}
    for algorithm in algorithms:
        metrics = (
            ModelVersion.objects.filter(algorithm=algorithm)
            .order_by("-created_at")
            .values_list("metrics", flat=True)
            .first()
        )
        seconds = (metrics or {}).get("fit_seconds")
        if isinstance(seconds, int | float):
            newest[algorithm] = float(seconds)
    return newest


def last_choices() -> dict[str, dict[str, Any]]:
    """The configurations the latest successful run chose, by algorithm (the warm start)."""
    last = (
        TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED, stats__has_key="tuning")
        .order_by("-finished_at")
        .values_list("stats", flat=True)
        .first()
    )
    tuning = (last or {}).get("tuning", {})
    return {
        algorithm: record["chosen"]
        for algorithm, record in tuning.items()
        if isinstance(record, dict) and "chosen" in record
    }


def validation_data(
    data: TrainingData,
    *,
    holdout_fraction: float,
    realtime_half_life_hours: float | None,
    recent_events: int | None,
) -> TrainingData | None:
    """The run's training events split again at the last ``holdout_fraction`` of their time,
    shoppers scored from serving rows as on the holdout (None when too few shoppers fall after
    that cut to choose anything on)."""
    if data.train_events is None or len(data.train_events) == 0:
        return None
    options = data.matrix_options
    try:
        validation = build_training_data(
            data.train_events,
            kind_weights=options["kind_weights"],
            half_life_days=options["half_life_days"],
            value_transform=options["value_transform"],
            holdout_fraction=holdout_fraction,
            realtime_half_life_hours=realtime_half_life_hours,
            recent_events=recent_events,
        )
    except TrainingDataError:
        return None
    if validation.stats["holdout_users"] < MIN_VALIDATION_SHOPPERS:
        return None
    return validation


def tune(
    algorithm: str,
    *,
    validation: TrainingData,
    defaults: Configuration,
    budget_seconds: float,
    warm_start: dict[str, Any] | None = None,
    k: int = 10,
    max_shoppers: int | None = None,
    seed: int = 0,
    space: dict[str, dict[str, Any]] | None = None,
    max_trials: int | None = None,
) -> TuningResult:
    """Search ``algorithm``'s space for ``budget_seconds`` (and at most ``max_trials`` searched
    trials); the defaults (and ``warm_start``, the last run's choice) are tried first, so the
    result never scores below them."""
    space = search_spaces().get(algorithm, {}) if space is None else space
    started = time.perf_counter()
    if not space:
        return TuningResult(algorithm, defaults, None, None, note="nothing to tune")
    deadline = started + budget_seconds
    stopped: list[str] = []
    # The known configurations are the result's floor and fit to the end (an algorithm whose
    # last fit outlasted its share is not tuned at all: ``choose_configurations``); a searched
    # trial is stopped at the end of the share.
    searching, sweeping = False, False
    fits = Fits()

    def objective(trial: optuna.trial.Trial) -> float:
        suggested = suggest(trial, space, sweeping=sweeping)
        configuration = Configuration.from_dict({**defaults.as_dict(), **suggested})
        reused = fits.find(configuration)
        try:
            scored = score_trial(
                algorithm,
                configuration,
                validation=validation,
                k=k,
                max_shoppers=max_shoppers,
                timeout=max(deadline - time.perf_counter(), MIN_TRIAL_SECONDS)
                if searching
                else None,
                fitted=reused,
            )
        except FitCrashed as exc:
            stopped.append(str(exc))
            raise
        fits.keep(configuration, scored)
        trial.set_user_attr(COVERAGE, scored.coverage)
        return scored.ndcg

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True)
    )
    enqueued = 0
    for known in (defaults.as_dict(), warm_start):
        if known:
            # Scored from live rows at the configured half-life unless a run chose another.
            known = {**unset_means(), **known}
            study.enqueue_trial(within(known, space), skip_if_exists=True)
            enqueued += 1
    failures = (FitError, ValueError, MemoryError, FitCrashed)
    # The known configurations run whatever the budget: they are the floor of the result.
    study.optimize(objective, n_trials=enqueued, catch=failures, gc_after_trial=True)
    remaining = budget_seconds - (time.perf_counter() - started)
    if remaining > 0 and max_trials != 0:
        searching = True
        swept = [name for name, spec in space.items() if spec["type"] == SWEEP]
        # The sweep scores the best trial's model at each other value: kept out of the search's
        # time (a refit, when the model was not kept, only if the budget still holds one).
        steps = sum(len(space[name]["values"]) - 1 for name in swept)
        remaining -= steps * fits.score_seconds
        if remaining > 0:
            enqueue_long_memory(study, space)
            study.optimize(
                objective,
                timeout=remaining,
                n_trials=max_trials,
                catch=failures,
                gc_after_trial=True,
            )
        sweeping = True
        best = _best_trial(study)
        if (
            swept
            and best is not None
            and (
                fits.holds(Configuration.from_dict({**defaults.as_dict(), **_params(best)}))
                or deadline - time.perf_counter() >= fits.fit_seconds
            )
        ):
            enqueued = enqueue_sweep(study, space, swept, best=best)
            study.optimize(objective, n_trials=enqueued, catch=failures, gc_after_trial=True)
    result = _result(algorithm, study, defaults=defaults, seconds=time.perf_counter() - started)
    if stopped:
        result.note = "; ".join(
            filter(None, [result.note, f"{len(stopped)} trial(s) stopped: {stopped[0]}"])
        )
    return result


def _result(
    algorithm: str, study: optuna.Study, *, defaults: Configuration, seconds: float
) -> TuningResult:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    trials = [
        {
            "number": t.number,
            "params": {name: none_of(v) for name, v in t.params.items()},
            "ndcg": round(float(t.value), 6) if t.value is not None else None,
            COVERAGE: t.user_attrs.get(COVERAGE),
            "state": t.state.name.lower(),
            "seconds": round(t.duration.total_seconds(), 2) if t.duration else None,
        }
        for t in study.trials
    ]
    if not done:
        return TuningResult(
            algorithm, defaults, None, None, trials, seconds, note="every trial failed"
        )
    best = done[
        preferred(
            [(float(t.value), t.user_attrs.get(COVERAGE, 0.0)) for t in done],
            tolerance=settings.SHELFWISE_COVERAGE_TIE_TOLERANCE,
        )
    ]
    chosen = Configuration.from_dict(
        {**defaults.as_dict(), **{name: none_of(v) for name, v in best.params.items()}}
    )
    # The first trial is the defaults (clipped into the space).
    default_score = float(done[0].value) if done[0].number == 0 else None
    result = TuningResult(algorithm, chosen, float(best.value), default_score, trials, seconds)
    result.coverage = best.user_attrs.get(COVERAGE)
    return result


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return max(done, key=lambda t: (t.value, -t.number)) if done else None


def _params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {name: none_of(value) for name, value in trial.params.items()}


def preferred(scores: list[tuple[float, float]], *, tolerance: float) -> int:
    """Which of ``scores`` (NDCG, catalog coverage) serves: among those within ``tolerance``
    (relative) of the best NDCG, the one recommending the most of the catalog; ties of both go
    to the earlier candidate. 0 keeps the best NDCG alone.

    Candidates that close on one validation window are not told apart by it, and the one that
    shows more products gives them exposure at no measured cost: on Online Retail the NDCG-best
    EASE (lambda 50,000 on the weighted matrix) served a quarter of the products the replay's
    binary EASE did (coverage@10 0.153 against 0.270, bench/README.md "Stop 21").
    """
    if not scores:
        raise ValueError("no candidate to choose from")
    best = max(ndcg for ndcg, _coverage in scores)
    floor = best * (1.0 - tolerance) if best > 0 else best
    close = [i for i, (ndcg, _coverage) in enumerate(scores) if ndcg >= floor]
    return max(close, key=lambda i: (scores[i][1], scores[i][0], -i))


optuna.logging.set_verbosity(optuna.logging.WARNING)
