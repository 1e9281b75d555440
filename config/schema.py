"""OpenAPI generation: the schema states what the API enforces.

- request bodies of ``StrictInputSerializer`` refuse unknown fields: ``additionalProperties:
  false``; a decimal accepts a JSON number as well as a decimal string;
- a refused unknown field is a documented ``unknown_field`` error on ``non_field_errors``;
- the strict paginator's 400 for ``limit``/``offset`` is documented wherever it paginates.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_standardized_errors.openapi import AutoSchema as StandardizedAutoSchema
from rest_framework import serializers
from rest_framework.settings import api_settings

from config.api import UNKNOWN_FIELD, StrictInputSerializer, StrictLimitOffsetPagination

NO_NUL = "^[^\\u0000]*$"
NOT_ONLY_WHITESPACE = "\\S"


class AutoSchema(StandardizedAutoSchema):
    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        for parameter in parameters:
            described = parameter.get("schema", {})
            if parameter["in"] == "query" and described.get("type") == "string":
                # Text parameters refuse NUL (PostgreSQL cannot compare it): the schema says so.
                described.setdefault("pattern", NO_NUL)
        return parameters

    def _get_extra_validation_errors(self) -> dict[str, set[str]]:
        extra = dict(super()._get_extra_validation_errors())
        if self.method in ("PUT", "PATCH", "POST") and _is_strict(self.get_request_serializer()):
            key = api_settings.NON_FIELD_ERRORS_KEY
            extra[key] = {*extra.get(key, ()), UNKNOWN_FIELD, "invalid"}
        if self.method == "GET" and isinstance(self._get_paginator(), StrictLimitOffsetPagination):
            for name in ("limit", "offset"):
                extra[name] = {*extra.get(name, ()), "invalid"}
        return extra


def _is_strict(serializer: Any) -> bool:
    return isinstance(serializer, StrictInputSerializer) or (
        isinstance(serializer, type) and issubclass(serializer, StrictInputSerializer)
    )


class StrictInputSerializerExtension(OpenApiSerializerExtension):
    target_class = StrictInputSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction != "request":
            return schema
        schema["additionalProperties"] = False
        for name, field in self.target.fields.items():
            if name not in schema["properties"]:
                continue
            if isinstance(field, serializers.DecimalField):
                schema["properties"][name] = _number_or_decimal_string(
                    schema["properties"][name], field
                )
            elif _must_hold_text(field):
                # DRF trims whitespace first, so "\v" alone is blank: say a character must
                # be more than whitespace (a pattern the field states itself is left alone).
                schema["properties"][name].setdefault("pattern", NOT_ONLY_WHITESPACE)
        return schema


def _must_hold_text(field: serializers.Field) -> bool:
    """A text field that refuses blank after trimming: its schema needs a non-space."""
    return (
        type(field) is serializers.CharField
        and not field.allow_blank
        and field.trim_whitespace
        and not field.read_only
    )


def _number_or_decimal_string(text: dict[str, Any], field: serializers.DecimalField) -> dict:
    number: dict[str, Any] = {"type": "number", "multipleOf": 10**-field.decimal_places}
    if field.min_value is not None:
        number["minimum"] = float(field.min_value)
    if field.max_digits is not None:
        number["maximum"] = float(10 ** (field.max_digits - field.decimal_places)) - 1
    whole = field.max_digits - field.decimal_places
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    # drf-spectacular's pattern lets "" through, which DRF refuses.
    pattern = rf"^{sign}\d{{1,{whole}}}(?:\.\d{{1,{field.decimal_places}}})?$"
    text = {**text, "type": "string", "pattern": pattern}
    described = {k: text.pop(k) for k in ("description", "nullable") if k in text}
    return {"oneOf": [number, text], **described}
