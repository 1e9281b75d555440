"""A run's candidates against the serving champions, and the versions they become.

The champion is compared on this run's holdout like for like: its *configuration* fitted on
the events before the holdout, as the candidate is. Scoring its saved model instead would
flatter it, because that model was fitted on its own whole window, which overlaps this run's
holdout. A champion configured as the candidate scores what the candidate scores; one already
scored on this holdout (the same data) keeps that score.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender.artifacts import ArtifactError, load_model
from recommender.core import Recommender
from recommender.core.matrix import IdIndex
from recommender.models import ModelVersion, TrainingRun
from recommender.training.champion import (
    ChampionScore,
    crown,
    decide_champion,
    decide_feature_index,
)
from recommender.training.dataset import TrainingData
from recommender.training.evaluation import holdout_metrics
from recommender.training.fitting import HALF_LIFE, Configuration
from recommender.training.isolation import FitCrashed, fit_isolated
from recommender.training.leftovers import UNRECORDED_ARTIFACTS, delete_artifacts

logger = logging.getLogger(__name__)


def score_on_holdout(
    model: Recommender,
    *,
    model_items: IdIndex,
    data: TrainingData,
    configuration: Configuration | None = None,
) -> dict[str, float]:
    """Metrics on the run's holdout, shoppers scored from the rows serving would build (with
    the model's own real-time half-life when it was tuned one)."""
    return holdout_metrics(
        model,
        model_items=model_items,
        items=data.items,
        train=data.train,
        test=data.test,
        k=settings.SHELFWISE_EVAL_K,
        score_rows=data.rows_with_half_life(
            None if configuration is None else configuration.realtime_half_life_hours,
            log1p=None if configuration is None else configuration.realtime_row_log1p,
        ),
        max_shoppers=settings.SHELFWISE_EVAL_MAX_SHOPPERS,
        popularity_penalty=None if configuration is None else configuration.popularity_penalty,
    )


def holdout_key(data: TrainingData) -> str:
    """Which holdout a score is on: the data's fingerprint, k and the sample size."""
    k, n = settings.SHELFWISE_EVAL_K, settings.SHELFWISE_EVAL_MAX_SHOPPERS
    return f"{data.holdout_fingerprint}/k={k}/n={n}"


def champion_score(
    algorithm: str, *, data: TrainingData, candidate: Configuration, candidate_ndcg: float
) -> ChampionScore:
    """The serving champion's NDCG@k on this run's holdout, fitted as the candidate was."""
    champion = ModelVersion.objects.champions().filter(algorithm=algorithm).first()
    if champion is None:
        return ChampionScore(None)
    configured = HALF_LIFE in (champion.params or {})
    if configured and Configuration.from_dict(champion.params) == candidate:
        return ChampionScore(champion.pk, candidate_ndcg)
    k = settings.SHELFWISE_EVAL_K
    known = _known_score(champion, fingerprint=holdout_key(data), k=k)
    if known is not None:
        return ChampionScore(champion.pk, known)
    try:
        if configured:
            model, model_items, _ = fit_isolated(
                algorithm, Configuration.from_dict(champion.params), data=data
            )
        else:
            # A version from before configurations were recorded: its saved model, as it is.
            model, model_items, _ = load_model(champion)
        metrics = score_on_holdout(
            model,
            model_items=model_items,
            data=data,
            configuration=Configuration.from_dict(champion.params) if configured else None,
        )
    except (ArtifactError, ValueError, FitCrashed) as exc:
        logger.warning("champion %s could not be scored: %s", champion.pk, exc)
        return ChampionScore(champion.pk, None, str(exc)[:300])
    return ChampionScore(champion.pk, metrics[f"ndcg@{k}"])


def _known_score(champion: ModelVersion, *, fingerprint: str, k: int) -> float | None:
    """The champion's NDCG@k on the holdout ``fingerprint`` names, if it was ever scored there:
    in its own run, or as the champion of an earlier run on the same data."""
    if champion.run is not None and champion.run.stats.get("holdout_fingerprint") == fingerprint:
        return champion.metrics.get(f"ndcg@{k}")
    earlier = ModelVersion.objects.filter(
        run__stats__holdout_fingerprint=fingerprint, metrics__champion_version=champion.pk
    ).order_by("-pk")
    for metrics in earlier.values_list("metrics", flat=True)[:5]:
        if metrics.get(f"champion_ndcg@{k}") is not None:
            return metrics[f"champion_ndcg@{k}"]
    return None


def record_versions(
    run: TrainingRun, *, fitted: list, has_holdout: bool, timings: dict
) -> list[ModelVersion]:
    """Version every fitted model, promote those that beat their champion, and mark the run
    succeeded, all in one transaction."""
    k = settings.SHELFWISE_EVAL_K
    versions = []
    with transaction.atomic():
        # Lock in a fixed order so two transactions can never wait on each other.
        for item in sorted(fitted, key=lambda f: f.algorithm):
            version = ModelVersion.objects.create(
                algorithm=item.algorithm,
                run=run,
                artifact=item.artifact,
                uuid=uuid.UUID(item.artifact.rsplit("/", 1)[-1]),
                params=item.configuration.as_dict(),
                metrics={
                    **item.metrics,
                    "champion_ndcg@10": item.champion.ndcg,
                    "champion_version": item.champion.version_id,
                },
                n_users=len(item.users),
                n_items=len(item.items),
            )
            current = (
                ModelVersion.objects.select_for_update()
                .filter(algorithm=item.algorithm, status=ModelVersion.Status.CHAMPION)
                .first()
            )
            if (current.pk if current else None) != item.champion.version_id:
                version.reason = (
                    "Not promoted: the champion changed while this run trained; compare and "
                    "promote by hand."
                )
                version.save(update_fields=["reason"])
            else:
                if item.is_feature_index:
                    wins, reason = decide_feature_index(
                        ndcg=item.metrics[f"ndcg@{k}"],
                        champion=item.champion,
                        n_items=len(item.items),
                    )
                else:
                    wins, reason = decide_champion(
                        ndcg=item.metrics[f"ndcg@{k}"],
                        champion=item.champion,
                        tolerance=settings.SHELFWISE_PROMOTION_TOLERANCE,
                        has_holdout=has_holdout,
                    )
                if wins:
                    crown(version=version, user=None, reason=reason)
                else:
                    version.reason = reason
                    version.save(update_fields=["reason"])
            versions.append(version)
        stats = TrainingRun.objects.get(pk=run.pk).stats
        # What a killed earlier attempt wrote: nothing records it, it goes with this success.
        written = {item.artifact for item in fitted}
        written.add((stats.get("buy_again") or {}).get("artifact"))  # the run's buy-again model
        leftovers = [p for p in stats.pop(UNRECORDED_ARTIFACTS, []) if p not in written]
        transaction.on_commit(lambda: delete_artifacts(leftovers))
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.SUCCEEDED,
            error="",  # a lost earlier attempt's note is history now (kept in the attempt log)
            progress=100,
            stage="done",
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            stats={**stats, "timings": timings},
        )
    return versions
