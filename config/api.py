"""API plumbing shared by every endpoint: pagination, permissions, the JSON 404 and the 413.

Every error leaves through drf-standardized-errors, so clients parse one shape:
``{"type": "validation_error" | "client_error" | "server_error",
   "errors": [{"code": ..., "detail": ..., "attr": <field or null>}]}``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_standardized_errors.handler import ExceptionHandler as StandardizedExceptionHandler
from drf_standardized_errors.openapi_serializers import (
    ClientErrorEnum,
    ValidationErrorResponseSerializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from config.storable import unstorable

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request carries more items than one call accepts."
    default_code = "too_large"


class ExceptionHandler(StandardizedExceptionHandler):
    """drf-standardized-errors' handler (``DRF_STANDARDIZED_ERRORS``), plus a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` as a JSON 413: Django alone answers its HTML 400 page."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge(
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes."
            )
        return super().convert_known_exceptions(exc)


class Error413Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[("too_large", "too_large")])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse413Serializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = Error413Serializer(many=True)


# Documented on GET endpoints that validate query parameters (DRF would not list the 400).
QueryValidationErrorSerializer = ValidationErrorResponseSerializer


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset pagination that answers 400 for a limit or offset out of range.

    DRF clamps ``?limit=10000`` to the maximum and ignores ``?offset=-3``; a client then gets
    fewer rows than it asked for without knowing why. Here the schema states the range and
    anything outside it is a validation error naming the parameter.
    """

    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request: Request) -> int:
        return self._integer(request, self.limit_query_param, self.default_limit, 1, MAX_PAGE_SIZE)

    def get_offset(self, request: Request) -> int:
        return self._integer(request, self.offset_query_param, 0, 0, 10**9)

    @staticmethod
    def _integer(request: Request, name: str, default: int, low: int, high: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({name: ["A whole number is required."]}) from None
        if not low <= value <= high:
            raise exceptions.ValidationError({name: [f"Must be between {low} and {high}."]})
        return value

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"] = {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE_SIZE,
            "default": DEFAULT_PAGE_SIZE,
        }
        offset["schema"] = {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}
        return [limit, offset]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"] = ["count", "results"]
        return paginated


class WritesNeedPermissions(BasePermission):
    """Any signed-in user reads; a write needs every Django permission in ``permissions``.

    The model permissions the admin and the dashboard check too, so an API token may write
    exactly what its user's groups allow (``manage.py create_api_client``); superusers hold all.
    """

    permissions: tuple[str, ...] = ()
    message = "This write needs a Django permission the account lacks."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        missing = [name for name in self.permissions if not user.has_perm(name)]
        if missing:
            self.message = f"This write needs the permission(s): {', '.join(missing)}."
        return not missing


class IsStaff(BasePermission):
    """Admin-like operations: staff users only, whatever the authentication."""

    message = "This operation needs a staff account."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


# Exempt: it changes nothing, and a POST from a shop back-end (no CSRF token) to a mistyped path
# must get this 404, not the CSRF middleware's HTML 403.
@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer JSON in the one error shape, never Django's HTML page."""
    return JsonResponse(
        {
            "type": "client_error",
            "errors": [
                {"code": "not_found", "detail": "No API endpoint at this path.", "attr": None}
            ],
        },
        status=404,
    )


def reject_nul(*, value: str, what: str) -> None:
    """Raise 404 for a path key that cannot exist (NUL bytes would make PostgreSQL fail)."""
    if unstorable(value):
        raise exceptions.NotFound(f"No {what} with this key.")
