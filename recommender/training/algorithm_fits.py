"""Fitting every algorithm of a run: fit on the events before the holdout, score on it, check a
search's choice against the defaults, then fit again on the whole window what can serve.

The refit comes after every algorithm was scored, so a run knows which models can serve before
it pays for their second fit: a personalised model that is not the run's best on the holdout
never serves "for you" (``serving_choice`` takes the best), and at 60,000 products ALS's refit
was 12 s of a run spent on a model that lost to best-sellers.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError

from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.training.champion import ChampionScore
from recommender.training.content import item_support
from recommender.training.dataset import TrainingData, TrainingDataError
from recommender.training.fitting import Configuration
from recommender.training.isolation import FitCrashed, fit_isolated
from recommender.training.tuning import preferred
from recommender.training.versions import champion_score, score_on_holdout

logger = logging.getLogger(__name__)

# A fitted model's share of its algorithm's progress; the refit (when there is one) has the rest.
FIT_SHARE = 0.75


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
    # Fitted on the events before the holdout only: a refit on the whole window is due.
    before_holdout: bool = False

    @property
    def is_feature_index(self) -> bool:
        return bool(getattr(self.model, "needs_item_features", False))

    @property
    def personalized(self) -> bool:
        return bool(getattr(self.model, "personalized", True)) and not self.is_feature_index


# Which fitted algorithms get their refit on the whole window.
RefitRule = Callable[[list[Fitted]], Collection[str]]


def refit_all(fitted: list[Fitted]) -> set[str]:
    """Every algorithm (a replay forces each model in turn, so each must be as a run serves it)."""
    return {item.algorithm for item in fitted}


def refit_servable(fitted: list[Fitted]) -> set[str]:
    """The algorithms whose model can serve after this run: the non-personalised rankings (the
    fallbacks, cheap), item-kNN (similar products' neighbours), the algorithm
    SHELFWISE_SERVING_MODEL names, and the personalised model with the best holdout NDCG (what
    ``auto`` serves "for you"). The others are saved as fitted before the holdout: versioned and
    scored like the rest, a week of events short, and refitted by the run in which they win."""
    key = f"ndcg@{settings.SHELFWISE_EVAL_K}"
    chosen = {
        item.algorithm
        for item in fitted
        if not item.personalized or item.algorithm in ("item_knn", settings.SHELFWISE_SERVING_MODEL)
    }
    personal = [item for item in fitted if item.personalized]
    if personal:
        chosen.add(max(personal, key=lambda item: item.metrics.get(key, -1.0)).algorithm)
    return chosen


def describe_failure(exc: BaseException) -> str:
    """The error as a run or an algorithm records it: the message, and for a bug the trace."""
    if isinstance(exc, TrainingDataError | FitCrashed):
        return f"{type(exc).__name__}: {exc}"
    lines = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n\n{''.join(lines[-6:])}"


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
    refit: RefitRule = refit_all,
) -> tuple[list[Fitted], dict[str, dict[str, str]]]:
    """Fit each algorithm on ``data``, score it on its holdout (beside its champion unless
    ``compare_champions`` is off), then fit those ``refit`` names again on ``whole`` when
    given; one that fails costs only itself. A configuration a search chose serves only when
    it also beats the algorithm's ``defaults`` on the holdout (``_tuned_or_defaults``).

    Returns the fitted models and, under "skipped", "failed" and "not_refitted", why the others
    have no version or an older one. An algorithm whose fit raises is recorded with its cause
    and the next one fits; at the run's soft time limit the one fitting is recorded as timed
    out and the rest are not started (a refit cut short keeps the model fitted before the
    holdout), so the fitted ones are still saved before the hard limit. When nothing was
    fitted, the first failure is raised and fails the run as before. A database error is the
    run's, not the algorithm's, and is raised at once.
    """
    fitted: list[Fitted] = []
    left_out: dict[str, dict[str, str]] = {"skipped": {}, "failed": {}, "not_refitted": {}}
    first_failure: Exception | None = None
    start, share = percent[0], (percent[1] - percent[0]) / len(algorithms)

    def failed(algorithm: str, exc: Exception) -> None:
        nonlocal first_failure
        first_failure = first_failure or exc
        left_out["failed"][algorithm] = describe_failure(exc)[:4_000]
        logger.exception("%s: %s failed; fitting the others", log_label, algorithm)

    for index, algorithm in enumerate(algorithms):
        try:
            configuration = configurations[algorithm]
            # Instantiated first: an item limit (EASE's max_items) may be a hyper-parameter.
            limit = getattr(ALGORITHMS[algorithm](**configuration.params), "max_items", None)
            if limit is not None and len(data.items) > limit:
                # e.g. EASE inverts an items×items matrix: past its limit it would not fit.
                left_out["skipped"][algorithm] = (
                    f"{len(data.items):,} products exceed its limit of {limit:,}"
                )
                continue
            fitted.append(
                _fit_and_evaluate(
                    algorithm,
                    configuration,
                    data=data,
                    whole=whole,
                    label=f"{algorithm} {index + 1}/{len(algorithms)}",
                    progress=progress,
                    percent=(start + share * index, share * FIT_SHARE),
                    compare_champion=compare_champions,
                    defaults=(defaults or {}).get(algorithm),
                )
            )
        except (DatabaseError, InterfaceError):
            raise
        except SoftTimeLimitExceeded as exc:
            first_failure = first_failure or exc
            left_out["failed"][algorithm] = (
                "Timed out: the run reached its soft time limit while fitting it."
            )
            for later in algorithms[index + 1 :]:
                left_out["failed"][later] = (
                    f"Not started: the run reached its time limit during {algorithm}."
                )
            logger.error("%s: %s timed out", log_label, algorithm)
            return _finished(fitted, left_out)
        except Exception as exc:
            failed(algorithm, exc)
    if first_failure is not None and not fitted:
        raise first_failure
    chosen = set(refit(fitted))
    timed_out = False
    for item in [item for item in fitted if item.before_holdout]:
        if item.algorithm not in chosen or timed_out:
            why = (
                "the run reached its time limit" if timed_out else "it cannot serve after this run"
            )
            item.metrics["fitted_before_holdout"] = 1.0
            left_out["not_refitted"][item.algorithm] = f"Saved as fitted before the holdout: {why}."
            continue
        index = algorithms.index(item.algorithm)
        label = f"{item.algorithm} {index + 1}/{len(algorithms)}"
        progress(start + share * (index + FIT_SHARE), f"refitting {label} on the whole window")
        try:
            _refit(item, whole)
        except (DatabaseError, InterfaceError):
            raise
        except SoftTimeLimitExceeded:
            timed_out = True
            item.metrics["fitted_before_holdout"] = 1.0
            left_out["not_refitted"][item.algorithm] = (
                "Saved as fitted before the holdout: the run reached its time limit refitting it."
            )
            logger.error("%s: %s's refit timed out", log_label, item.algorithm)
        except Exception as exc:
            fitted.remove(item)
            failed(item.algorithm, exc)
    if first_failure is not None and not fitted:
        raise first_failure
    return _finished(fitted, left_out)


def _finished(
    fitted: list[Fitted], left_out: dict[str, dict[str, str]]
) -> tuple[list[Fitted], dict[str, dict[str, str]]]:
    for item in fitted:
        item.metrics = {
            **item.metrics,
            **{f"{name}_seconds": round(v, 3) for name, v in item.timings.items()},
        }
    return fitted, {key: value for key, value in left_out.items() if value}


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
    progress(start + share * 0.5, f"evaluating {label}")
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
        progress(start + share * 0.7, f"checking {label} against its defaults")
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
    return Fitted(
        algorithm,
        model,
        configuration,
        {**metrics, **extra},
        champion,
        items=model_items,
        users=fitted_on.users,
        support=item_support(fitted_on.train, source=fitted_on.items, target=model_items),
        timings=timings,
        before_holdout=whole is not None and fitted_on is not whole,
    )


def _refit(item: Fitted, whole: TrainingData) -> None:
    """Fit ``item``'s configuration again on the whole window, in place: the newest weeks
    reach serving. Its holdout metrics stay those of the fit before the holdout."""
    mark = time.perf_counter()
    model, model_items, extra = fit_isolated(item.algorithm, item.configuration, data=whole)
    item.timings["refit"] = time.perf_counter() - mark
    item.model, item.items, item.users = model, model_items, whole.users
    item.metrics = {**item.metrics, **extra}
    item.support = item_support(whole.train, source=whole.items, target=model_items)
    item.before_holdout = False


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
