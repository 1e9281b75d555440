"""Training endpoints: trigger and watch runs, list versions, promote and roll back (staff)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ServerErrorEnum,
    ValidationErrorResponseSerializer,
)
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import exceptions, generics, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import IsStaff, StrictLimitOffsetPagination, query_params
from recommender import selectors
from recommender.models import ModelVersion, TrainingRun
from recommender.permissions import CanPromote, CanTrain
from recommender.serializers import (
    ModelVersionSerializer,
    ModelVersionsQuerySerializer,
    RollbackInSerializer,
    TrainingRunInSerializer,
    TrainingRunSerializer,
)
from recommender.training.champion import ChampionError, make_champion, rollback
from recommender.training.services import (
    BrokerUnavailable,
    TrainingAlreadyRunning,
    UnknownAlgorithm,
    start_training,
)


class TrainingConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "training_already_running"

    def __init__(self, *, run_id: int) -> None:
        self.location = _run_url(run_id)
        super().__init__(
            f"Training run #{run_id} is already queued or running for these algorithms; "
            f"follow it at {self.location}."
        )


class BrokerDown(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "broker_unavailable"


class Error409Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("training_already_running",) * 2])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse409Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = Error409Serializer(many=True)


class Error503Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("broker_unavailable",) * 2])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse503Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ServerErrorEnum.choices)
    errors = Error503Serializer(many=True)


def _run_url(run_id: int) -> str:
    return f"/api/v1/training-runs/{run_id}"


_CREATE_SCHEMA = extend_schema(
    operation_id="training_runs_create",
    request=TrainingRunInSerializer,
    responses={
        202: TrainingRunSerializer,
        409: OpenApiResponse(
            ErrorResponse409Serializer,
            description="A run for some of these algorithms is already queued or running; the "
            "detail names its id and the Location header points at it.",
        ),
        503: OpenApiResponse(
            ErrorResponse503Serializer,
            description="The task queue is unreachable; the run is recorded as not_queued.",
        ),
    },
    description=(
        "Start a training run. Answers 202 with the run and a Location to poll for progress. "
        "Only one run at a time trains a given algorithm."
    ),
)


def _create_run(request: Request) -> Response:
    incoming = TrainingRunInSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    try:
        run = start_training(
            triggered_by=TrainingRun.Trigger.API,
            algorithms=incoming.validated_data.get("algorithms"),
            user=request.user,
        )
    except UnknownAlgorithm as exc:
        raise exceptions.ValidationError({"algorithms": [str(exc)]}) from exc
    except TrainingAlreadyRunning as exc:
        raise TrainingConflict(run_id=exc.run_id) from exc
    except BrokerUnavailable as exc:
        raise BrokerDown(
            f"The task queue is unreachable, so training run #{exc.run.pk} was recorded but not "
            "started (status not_queued). Try again when the queue is back."
        ) from exc
    return Response(
        TrainingRunSerializer(run).data,
        status=status.HTTP_202_ACCEPTED,
        headers={"Location": _run_url(run.pk)},
    )


@extend_validation_errors(["invalid"], field_name="algorithms", methods=["post"])
class TrainingRuns(generics.ListAPIView):
    """GET: runs newest first with their progress. POST: start a run."""

    permission_classes = [CanTrain]
    pagination_class = StrictLimitOffsetPagination
    serializer_class = TrainingRunSerializer

    def get_queryset(self):
        return selectors.training_runs()

    @extend_schema(operation_id="training_runs_list")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @_CREATE_SCHEMA
    def post(self, request: Request) -> Response:
        return _create_run(request)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, TrainingConflict):
            response["Location"] = exc.location  # where the running run can be followed
        return response


@extend_schema(operation_id="training_runs_retrieve", responses={200: TrainingRunSerializer})
@api_view(["GET"])
@permission_classes([IsStaff])
def training_run_detail(request: Request, run_id: int) -> Response:
    run = get_object_or_404(selectors.training_runs(), pk=run_id)
    return Response(TrainingRunSerializer(run).data)


class ModelVersions(generics.ListAPIView):
    """Versions newest first with their holdout metrics, filterable by algorithm and status."""

    permission_classes = [IsStaff]
    pagination_class = StrictLimitOffsetPagination
    serializer_class = ModelVersionSerializer

    def get_queryset(self):
        query = query_params(ModelVersionsQuerySerializer, self.request)
        return selectors.model_versions(
            algorithm=query.get("algorithm"), status=query.get("status")
        )

    @extend_schema(
        operation_id="model_versions_list",
        parameters=[ModelVersionsQuerySerializer],
        responses={
            200: ModelVersionSerializer(many=True),
            400: ValidationErrorResponseSerializer,
        },
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


@extend_validation_errors(["invalid"], field_name="non_field_errors", methods=["post"])
@extend_schema(
    operation_id="model_versions_promote",
    request=None,
    responses={200: ModelVersionSerializer},
    description="Make this version serve for its algorithm; the current champion is retired.",
)
@api_view(["POST"])
@permission_classes([CanPromote])
def model_version_promote(request: Request, version_id: int) -> Response:
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        version = make_champion(version=version, user=request.user)
    except ChampionError as exc:
        raise exceptions.ValidationError({"non_field_errors": [str(exc)]}) from exc
    return Response(ModelVersionSerializer(version).data)


@extend_schema(
    operation_id="model_versions_rollback",
    request=RollbackInSerializer,
    responses={200: ModelVersionSerializer},
    description="Restore the champion the current one replaced; answers with the restored one.",
)
@api_view(["POST"])
@permission_classes([CanPromote])
def model_versions_rollback(request: Request) -> Response:
    incoming = RollbackInSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    try:
        version = rollback(algorithm=incoming.validated_data["algorithm"], user=request.user)
    except ChampionError as exc:
        raise exceptions.ValidationError({"algorithm": [str(exc)]}) from exc
    return Response(ModelVersionSerializer(version).data)
