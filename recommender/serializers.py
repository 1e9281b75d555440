"""Serializers of the training-runs and model-versions endpoints."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import StrictInputSerializer, StrictQuerySerializer
from recommender.models import ModelVersion, TrainingRun
from recommender.training.services import (
    UnknownAlgorithm,
    resolve_algorithms,
    trainable_algorithms,
)


class AlgorithmListField(serializers.ListField):
    """Algorithm names; a bad item is reported on the list itself (``algorithms``), which is
    what the schema documents (item positions are not enumerable there)."""

    def run_child_validation(self, data: list) -> list:
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            problems = [f"Item {i}: {' '.join(map(str, e))}" for i, e in exc.detail.items()]
            raise serializers.ValidationError(problems[:10], code="invalid") from None


class AlgorithmListFieldExtension(OpenApiSerializerFieldExtension):
    """The schema names the algorithms this deployment can train (registered at run time, so
    read when the schema is generated); the service validates with its own messages."""

    target_class = AlgorithmListField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        return {
            "type": "array",
            "items": {"type": "string", "enum": trainable_algorithms()},
            "minItems": 1,
            "maxItems": field.max_length,
            "description": field.help_text,
        }


class TrainingRunInSerializer(StrictInputSerializer):
    algorithms = AlgorithmListField(
        child=serializers.CharField(max_length=64),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=20,
        help_text="Algorithms to train; leave out to train the configured defaults.",
    )

    def validate_algorithms(self, value: list[str]) -> list[str]:
        try:
            return resolve_algorithms(value)
        except UnknownAlgorithm as exc:
            raise serializers.ValidationError(str(exc)) from exc


class TrainingRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    duration_seconds = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "url",
            "status",
            "progress",
            "stage",
            "algorithms",
            "params",
            "attempts",
            "triggered_by",
            "requested_by",
            "heartbeat_at",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "window_start",
            "window_end",
            "holdout_start",
            "n_shoppers",
            "n_products",
            "n_events",
            "n_interactions",
            "stats",
            "error",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_duration_seconds(self, run: TrainingRun) -> float | None:
        return None if run.duration is None else round(run.duration.total_seconds(), 3)

    @extend_schema_field(serializers.CharField())
    def get_url(self, run: TrainingRun) -> str:
        return f"/api/v1/training-runs/{run.pk}"


class ModelVersionSerializer(serializers.ModelSerializer):
    promoted_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "uuid",
            "algorithm",
            "status",
            "run",
            "params",
            "metrics",
            "n_users",
            "n_items",
            "reason",
            "replaced",
            "created_at",
            "promoted_at",
            "promoted_by",
            "retired_at",
        ]
        read_only_fields = fields


class RollbackInSerializer(StrictInputSerializer):
    algorithm = serializers.CharField(max_length=64, help_text="The algorithm to roll back.")


class ModelVersionsQuerySerializer(StrictQuerySerializer):
    algorithm = serializers.CharField(
        max_length=64, required=False, help_text="Only versions of this algorithm."
    )
    status = serializers.ChoiceField(
        choices=ModelVersion.Status.choices, required=False, help_text="Only this status."
    )
