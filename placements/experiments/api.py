"""``GET /api/v1/experiments`` and ``/api/v1/experiments/<id>``: A/B tests and their results."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from placements.experiments.models import Experiment
from placements.experiments.results import MetricResult, Results, experiment_results
from placements.experiments.selectors import experiment_by_id, experiment_list


class VariantRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    key = serializers.CharField(help_text="How impressions and KPI rows name it.")
    kind = serializers.CharField()
    weight = serializers.IntegerField(help_text="Percent of shoppers.")
    is_control = serializers.BooleanField()


class ExperimentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    placement = serializers.CharField()
    state = serializers.CharField()
    primary_metric = serializers.CharField()
    guardrails = serializers.ListField(child=serializers.CharField())
    planned_sample = serializers.IntegerField(help_text="Shoppers per variant before deciding.")
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    promoted_variant = serializers.CharField(allow_null=True)
    variants = VariantRefSerializer(many=True)


class ComparisonSerializer(serializers.Serializer):
    variant = serializers.CharField()
    difference = serializers.FloatField(help_text="Variant minus control.")
    low = serializers.FloatField(help_text="95 % interval of the difference.")
    high = serializers.FloatField()
    p_value = serializers.FloatField()
    lift = serializers.FloatField(allow_null=True, help_text="Relative to the control.")


class MetricSerializer(serializers.Serializer):
    metric = serializers.CharField()
    estimates = serializers.DictField(child=serializers.FloatField(allow_null=True))
    comparisons = ComparisonSerializer(many=True)


class VariantFiguresSerializer(serializers.Serializer):
    variant = serializers.CharField()
    impressions = serializers.IntegerField()
    shoppers = serializers.IntegerField(help_text="Exposed named shoppers.")
    clicked = serializers.IntegerField()
    converted = serializers.IntegerField()


class ResultsSerializer(ExperimentSerializer):
    progress = serializers.FloatField(help_text="Smallest variant's shoppers / planned sample.")
    figures = VariantFiguresSerializer(many=True)
    primary = MetricSerializer()
    guardrails = MetricSerializer(many=True)
    sample_ratio_p_value = serializers.FloatField(allow_null=True)
    sample_ratio_mismatch = serializers.BooleanField(help_text="Flagged below p = 0.001.")
    outcome = serializers.ChoiceField(choices=["keep_running", "winner", "no_difference"])
    winner = serializers.CharField(allow_null=True)


def experiment_record(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": experiment.pk,
        "name": experiment.name,
        "placement": experiment.placement.name,
        "state": experiment.state,
        "primary_metric": experiment.primary_metric,
        "guardrails": list(experiment.guardrails or []),
        "planned_sample": experiment.planned_sample,
        "started_at": experiment.started_at,
        "stopped_at": experiment.stopped_at,
        "promoted_variant": getattr(experiment.promoted_variant, "name", None),
        "variants": [
            {
                "name": v.name,
                "key": v.key,
                "kind": v.kind,
                "weight": v.weight,
                "is_control": v.is_control,
            }
            for v in experiment.variants.all()
        ],
    }


def _metric_record(result: MetricResult, names: list[str]) -> dict[str, Any]:
    return {
        "metric": result.metric,
        "estimates": dict(zip(names, result.estimates, strict=True)),
        "comparisons": [
            {
                "variant": name,
                "difference": c.difference,
                "low": c.low,
                "high": c.high,
                "p_value": c.p_value,
                "lift": c.lift,
            }
            for name, c in zip(names[1:], result.comparisons, strict=True)
            if c is not None
        ],
    }


def results_record(results: Results) -> dict[str, Any]:
    names = [f.variant.name for f in results.figures]
    check = results.ratio_check
    return {
        **experiment_record(results.experiment),
        "progress": results.progress,
        "figures": [
            {
                "variant": f.variant.name,
                "impressions": f.impressions,
                "shoppers": f.exposures,
                "clicked": len(f.clicked),
                "converted": len(f.converted),
            }
            for f in results.figures
        ],
        "primary": _metric_record(results.primary, names),
        "guardrails": [_metric_record(g, names) for g in results.guardrails],
        "sample_ratio_p_value": check.p_value if check else None,
        "sample_ratio_mismatch": bool(check and check.flagged),
        "outcome": results.verdict.outcome,
        "winner": results.winner.name if results.winner else None,
    }


@extend_schema(
    operation_id="experiments_list",
    responses={200: ExperimentSerializer(many=True)},
    description="Every A/B test on the shop's placements, newest first.",
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def experiments_list(request: Request) -> Response:
    records = [experiment_record(e) for e in experiment_list()]
    return Response(ExperimentSerializer(records, many=True).data)


@extend_schema(
    operation_id="experiment_results",
    responses={200: ResultsSerializer, 404: OpenApiResponse(description="No such experiment.")},
    description=(
        "One A/B test's results: per variant shoppers, clicks and conversions; the primary "
        "metric and guardrails against the control with 95 % intervals; the sample-ratio "
        "check; and the fixed-horizon outcome (no winner before the planned sample)."
    ),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def experiment_detail(request: Request, experiment_id: int) -> Response:
    experiment = experiment_by_id(experiment_id=experiment_id)
    if experiment is None:
        raise NotFound(f"No experiment {experiment_id}.")
    results = experiment_results(experiment=experiment, now=timezone.now())
    return Response(ResultsSerializer(results_record(results)).data)
