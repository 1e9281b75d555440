"""Reads of training runs and model versions (serving and the dashboard load champions here)."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery

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
