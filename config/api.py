"""API plumbing shared by every endpoint: the JSON parser, strict request bodies and query
parameters, pagination, permissions, the JSON 404 and the 413.

Every error leaves through drf-standardized-errors, so clients parse one shape:
``{"type": "validation_error" | "client_error" | "server_error",
   "errors": [{"code": ..., "detail": ..., "attr": <field or null>}]}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
from rest_framework.settings import api_settings

from config.storable import unstorable

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# Error details echo what the client sent; a 30 MB value must not come back whole.
MAX_ECHO = 100
MAX_DETAIL = 200
UNKNOWN_FIELD = "unknown_field"


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def clip_errors(errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Field errors with field names and messages clipped (per-item errors of a batch)."""
    return {clip(name): [clip(str(m), MAX_DETAIL) for m in ms] for name, ms in errors.items()}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request carries more items than one call accepts."
    default_code = "too_large"


class ExceptionHandler(StandardizedExceptionHandler):
    """drf-standardized-errors' handler (``DRF_STANDARDIZED_ERRORS``), plus a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` as a JSON 413 (Django alone answers its HTML 400 page), and
    every detail and attr clipped to ``MAX_ECHO`` characters: messages quote client input."""

    def format_exception(self, exc: exceptions.APIException) -> dict:
        data = super().format_exception(exc)
        for error in data["errors"]:
            error["detail"] = clip(error["detail"], MAX_DETAIL)
            if error["attr"] is not None:
                error["attr"] = clip(error["attr"])
        return data

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


def unknown_fields_message(names: Iterable[str]) -> str:
    return clip("Unknown field(s): " + ", ".join(sorted(names)) + ".", MAX_DETAIL)


def reject_unknown_item_fields(*, items: list[Any], allowed: Iterable[str], name: str) -> None:
    """400 for a batch whose items carry fields the API does not know (a misspelt
    ``ocurred_at`` would otherwise be dropped and its default stored), naming item and fields.

    The whole batch is refused: the slip is in the client's code, so it affects every item.
    """
    known = set(allowed)
    messages = [
        f"Item {index}: {unknown_fields_message(set(item) - known)}"
        for index, item in enumerate(items)
        if isinstance(item, dict) and not known.issuperset(item)
    ]
    if messages:
        raise exceptions.ValidationError({name: messages[:10]}, code=UNKNOWN_FIELD)


# The JSON types each field accepts: DRF would also take 5 for a text field, "5" for a number
# and "yes" for a boolean, none of which the schema allows.
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "a whole number"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.DecimalField, (int, float, str), "a number or a decimal string"),
    (serializers.CharField, (str,), "a string"),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "an ISO 8601 date-time string"),
    (serializers.DictField, (dict,), "a JSON object"),
    (serializers.ListField, (list,), "a JSON array"),
)


class StrictInputSerializer(serializers.Serializer):
    """Base of every request-body serializer: a field the serializer does not declare is a
    400 (not silently dropped), and each value must have the JSON type the schema states.

    The schema says so too: request components get ``additionalProperties: false``
    (``config.schema``).
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {f.field_name for f in self._writable_fields}
            unknown = set(data) - writable
            if unknown:
                raise exceptions.ValidationError(
                    {api_settings.NON_FIELD_ERRORS_KEY: [unknown_fields_message(unknown)]},
                    code=UNKNOWN_FIELD,
                )
            errors = {
                name: [f"Must be {expected}."]
                for name, expected in self._type_errors(data, writable).items()
            }
            if errors:
                raise exceptions.ValidationError(errors, code="invalid")
        return super().to_internal_value(data)

    def _type_errors(self, data: Mapping[str, Any], writable: set[str]) -> dict[str, str]:
        errors = {}
        for name in writable & set(data):
            field, value = self.fields[name], data[name]
            if value is None:
                continue  # DRF answers "may not be null" where null is not allowed
            for field_class, types, expected in _JSON_TYPES:
                if isinstance(field, field_class):
                    if (isinstance(value, bool) and bool not in types) or not isinstance(
                        value, types
                    ):
                        errors[name] = expected
                    break
        return errors


class StrictQuerySerializer(serializers.Serializer):
    """Base of query-parameter serializers: a parameter left out takes its default, one given
    empty (``?k=``) or more than once (``?k=5&k=9``) is a 400 naming it, never the default.
    Only text that may be blank (``allow_blank``) may be given empty."""

    def to_internal_value(self, data: Any) -> Any:
        errors = {}
        for name in self.fields:
            values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
            if len(values) > 1:
                errors[name] = ["Given more than once."]
            elif values == [""] and not getattr(self.fields[name], "allow_blank", False):
                errors[name] = ["Given empty; leave the parameter out for the default."]
        if errors:
            raise exceptions.ValidationError(errors, code="invalid")
        return super().to_internal_value(data)


def query_params(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The request's query parameters, validated by ``serializer_class``."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


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
        values = request.query_params.getlist(name)
        if not values:
            return default
        if len(values) > 1:
            raise exceptions.ValidationError({name: ["Given more than once."]})
        raw = values[0]
        if raw == "":
            raise exceptions.ValidationError(
                {name: ["Given empty; leave the parameter out for the default."]}
            )
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
    detail = "No API endpoint at this path."
    if request.path.endswith("/"):
        detail += " API paths have no trailing slash."
    return JsonResponse(
        {"type": "client_error", "errors": [{"code": "not_found", "detail": detail, "attr": None}]},
        status=404,
    )


def reject_nul(*, value: str, what: str) -> None:
    """Raise 404 for a path key that cannot exist (NUL bytes would make PostgreSQL fail)."""
    if unstorable(value):
        raise exceptions.NotFound(f"No {what} with this key.")
