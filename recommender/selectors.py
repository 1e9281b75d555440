"""Reads of training runs and model versions (serving and the dashboard load champions here),
and the metrics the dashboard charts and compares."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT

from recommender.labels import algorithm_label, is_metric
from recommender.models import ModelVersion, TrainingRun


def numbered(versions: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """``versions`` with ``number``: each one's place in its own algorithm's sequence, so
    screens say "EASE version 3" rather than the id shared by every algorithm."""
    earlier = (
        ModelVersion.objects.filter(algorithm=OuterRef("algorithm"), pk__lte=OuterRef("pk"))
        .order_by()
        .values("algorithm")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return versions.annotate(number=Subquery(earlier, output_field=IntegerField()))


def champion_version(*, algorithm: str) -> ModelVersion | None:
    """The version serving ``algorithm`` now, or None before its first successful training."""
    versions = ModelVersion.objects.champions().filter(algorithm=algorithm)
    return numbered(versions.select_related("run")).first()


def champion_versions() -> QuerySet[ModelVersion]:
    """Every algorithm's serving version, by algorithm name."""
    return numbered(ModelVersion.objects.champions().select_related("run").order_by("algorithm"))


def holdout_scores(
    *, version_ids: list[int]
) -> dict[int, dict[str, tuple[float, float | None, int]]]:
    """Version id → {holdout fingerprint: (NDCG@k, its ci95 or None, newest run id)}: where
    each version was scored, in its own run and as the champion a later run compared with
    (``champion_ndcg@k`` has no interval). One query."""
    k = settings.SHELFWISE_EVAL_K
    ids = set(version_ids)
    rows = ModelVersion.objects.filter(
        Q(pk__in=ids) | Q(metrics__champion_version__in=list(ids))
    ).values_list("pk", "run_id", "run__stats__holdout_fingerprint", "metrics")
    found: dict[int, dict[str, tuple[float, float | None, int]]] = {pk: {} for pk in ids}
    for pk, run_id, fingerprint, metrics in rows:
        metrics = metrics or {}
        if not fingerprint or run_id is None:
            continue
        scored = []
        if pk in ids and metrics.get(f"ndcg@{k}") is not None:
            ci95 = metrics.get(f"ndcg@{k}_ci95")
            scored.append((pk, float(metrics[f"ndcg@{k}"]), None if ci95 is None else float(ci95)))
        champion = metrics.get("champion_version")
        if champion in ids and champion != pk and metrics.get(f"champion_ndcg@{k}") is not None:
            scored.append((champion, float(metrics[f"champion_ndcg@{k}"]), None))
        for version, ndcg, ci95 in scored:
            known = found[version].get(fingerprint)
            # Its own run's score (with an interval) wins over a later run's repeat of it.
            if known is None or (known[1] is None and ci95 is not None):
                found[version][fingerprint] = (ndcg, ci95, max(run_id, known[2] if known else 0))
            else:
                found[version][fingerprint] = (known[0], known[1], max(run_id, known[2]))
    return found


def model_versions(
    *, algorithm: str | None = None, status: str | None = None
) -> QuerySet[ModelVersion]:
    """Versions newest first, optionally of one algorithm and/or status."""
    versions = ModelVersion.objects.select_related("run", "promoted_by")
    if algorithm:
        versions = versions.filter(algorithm=algorithm)
    if status:
        versions = versions.filter(status=status)
    return numbered(versions).order_by("-created_at", "-id")


def training_runs(*, status: str | None = None) -> QuerySet[TrainingRun]:
    """Runs newest first, optionally of one status."""
    runs = TrainingRun.objects.select_related("requested_by")
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-created_at", "-id")


def latest_training_run() -> TrainingRun | None:
    return TrainingRun.objects.order_by("-created_at", "-id").first()


def last_successful_training() -> datetime | None:
    """When the latest successful training run finished (None if none ever did)."""
    runs = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED)
    return runs.aggregate(at=Max("finished_at"))["at"]


def champions_among(
    *, versions: list[ModelVersion], every: QuerySet[ModelVersion]
) -> list[ModelVersion]:
    """The champions among ``versions``; when none is, the champions of ``every``."""
    champion = ModelVersion.Status.CHAMPION
    return [v for v in versions if v.status == champion] or list(every.filter(status=champion))


def metrics_history(*, metric: str) -> dict:
    """Chart.js data: ``metric`` per training run (x) with one line per algorithm."""
    rows = ModelVersion.objects.order_by("run_id", "id").values_list(
        "run_id", "algorithm", "metrics"
    )
    runs: list[int] = []
    values: dict[str, dict[int, float]] = {}
    for run_id, algorithm, metrics in rows:
        value = (metrics or {}).get(metric)
        if value is None:
            continue
        if not runs or runs[-1] != run_id:
            runs.append(run_id)
        values.setdefault(algorithm, {})[run_id] = round(float(value), 5)
    return {
        "metric": metric,
        "labels": [f"run #{r}" for r in runs],
        "datasets": [
            {"label": algorithm_label(algorithm), "data": [by_run.get(r) for r in runs]}
            for algorithm, by_run in sorted(values.items())
        ],
    }


def default_metric() -> str:
    return f"ndcg@{settings.SHELFWISE_EVAL_K}"


def metric_names(versions: list[ModelVersion]) -> list[str]:
    """Every metric any of these versions reports, the default one first (counts and notes
    stored beside them, such as n_users or champion_version, are not metrics)."""
    names = sorted({name for v in versions for name in (v.metrics or {}) if is_metric(name)})
    first = default_metric()
    return [first, *(n for n in names if n != first)] if first in names else names


def _latest_success() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).order_by("-finished_at")


def buy_again_artifact() -> str | None:
    """Where the buy-again model of the latest successful training run is stored; None when
    that run kept the slot's frequency ranking (its model did not beat own most frequent)."""
    stats = _latest_success().values_list("stats", flat=True).first()
    record = (stats or {}).get("buy_again") or {}
    return record.get("artifact") or None


def champions_with_buy_again() -> QuerySet[ModelVersion]:
    """``champion_versions`` with ``buy_again_artifact`` (as ``buy_again_artifact()``) on every
    row, so serving checks both in one query."""
    latest = _latest_success().annotate(artifact=KT("stats__buy_again__artifact"))
    return champion_versions().annotate(buy_again_artifact=Subquery(latest.values("artifact")[:1]))


def last_buy_again_choice() -> dict | None:
    """The buy-again parameters the latest successful run chose (a warm start)."""
    stats = (
        TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED, stats__has_key="buy_again")
        .order_by("-finished_at")
        .values_list("stats", flat=True)
        .first()
    )
    return ((stats or {}).get("buy_again") or {}).get("chosen")
