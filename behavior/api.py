"""REST endpoints for shop back-ends: send events, keep shoppers in sync."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django_countries import countries
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from behavior.models import MAX_POSITION, EventKind, Shopper
from behavior.permissions import CanSendEvents, CanWriteShoppers
from behavior.services import ingest_events
from behavior.shopper_services import upsert_shopper
from config.api import (
    UNKNOWN_FIELD,
    ErrorResponse413Serializer,
    PayloadTooLarge,
    StrictInputSerializer,
    clip_errors,
    reject_unknown_item_fields,
    unknown_fields_message,
)
from config.storable import unstorable


class EventInSerializer(StrictInputSerializer):
    """One event as a shop back-end sends it (documentation; validated in bulk by the service)."""

    event_id = serializers.CharField(max_length=128, help_text="Your id; a resent id is ignored.")
    shopper = serializers.CharField(max_length=128, help_text="The shopper's external id.")
    product = serializers.CharField(
        max_length=64, required=False, allow_null=True, help_text="Product sku (not for searches)."
    )
    kind = serializers.ChoiceField(choices=EventKind.choices)
    value = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="Quantity, or 1–5 for ratings."
    )
    query = serializers.CharField(max_length=255, required=False, allow_blank=True)
    session_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    order_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    occurred_at = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 with a time zone, from 1970 to a day ahead; defaults to now.",
    )
    recommendation_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Views, carts and purchases only: the `recommendation_id` of the response the "
        "shopper followed to this product. Send it back as served; an id Shelfwise did not "
        "serve is stored but not attributed.",
    )
    position = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_POSITION,
        help_text="The product's `position` in that response (1 = first); needs the id.",
    )


class EventBatchInSerializer(StrictInputSerializer):
    events = EventInSerializer(many=True, max_length=settings.SHELFWISE_MAX_BATCH)


class EventStatusSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch.")
    status = serializers.ChoiceField(choices=["stored", "duplicate", "invalid"])
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field name → reasons, for invalid events.",
    )


class EventBatchOutSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    invalid = serializers.IntegerField()
    shoppers_created = serializers.IntegerField()
    results = EventStatusSerializer(many=True)


@extend_validation_errors(
    ["required", "not_a_list", UNKNOWN_FIELD], field_name="events", methods=["post"]
)
@extend_schema(
    operation_id="events_create",
    request=EventBatchInSerializer,
    responses={
        200: EventBatchOutSerializer,
        413: OpenApiResponse(ErrorResponse413Serializer, description="More than 1,000 events."),
    },
    description=(
        "Store a batch of up to 1,000 events. Each event gets a status by index: `stored`, "
        "`duplicate` (its event_id was stored before; retrying a batch is safe) or `invalid` "
        "with field errors. Valid events are stored even when others are invalid; unknown "
        "shoppers are created; an unknown product sku makes that event invalid. A field the "
        "API does not know, in the body or in any event, refuses the whole batch (400)."
    ),
)
@api_view(["POST"])
@permission_classes([CanSendEvents])
def events_create(request: Request) -> Response:
    # The service validates each event (NUL, lone surrogates and non-text kinds included) and
    # reports it by index; a per-event pre-scan here cost ~10 % of a 500-event request.
    events = _event_list(request.data)
    reject_unknown_item_fields(items=events, allowed=_EVENT_FIELDS, name="events")
    result = ingest_events(events=events)
    results = [
        {
            "index": i,
            "status": s,
            **({"errors": clip_errors(result.errors[i])} if i in result.errors else {}),
        }
        for i, s in enumerate(result.statuses)
    ]
    return Response(
        {
            "stored": result.stored,
            "duplicates": result.duplicates,
            "invalid": result.invalid,
            "shoppers_created": result.shoppers_created,
            "results": results,
        }
    )


_EVENT_FIELDS = frozenset(EventInSerializer().fields)


def _event_list(data: Any) -> list[Any]:
    if not isinstance(data, dict) or "events" not in data:
        raise ValidationError({"events": ["This field is required."]}, code="required")
    if set(data) != {"events"}:
        raise ValidationError(
            {"non_field_errors": [unknown_fields_message(set(data) - {"events"})]},
            code=UNKNOWN_FIELD,
        )
    events = data["events"]
    if not isinstance(events, list):
        raise ValidationError({"events": ["Expected a list of events."]}, code="not_a_list")
    limit = settings.SHELFWISE_MAX_BATCH
    if len(events) > limit:
        raise PayloadTooLarge(f"{len(events)} events in one batch; send at most {limit}.")
    return events


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 140},
        "maxItems": 100,
    }
)
class SlugListField(serializers.Field):
    """A list of category slugs; every error is reported on the list itself (``interests``),
    which is what the schema documents (item positions are not enumerable there)."""

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list) or len(data) > 100:
            raise ValidationError("A list of at most 100 category slugs.", code="invalid")
        if not all(isinstance(slug, str) and 0 < len(slug) <= 140 for slug in data):
            raise ValidationError("Each interest is a category slug.", code="invalid")
        return data

    def to_representation(self, value: list[str]) -> list[str]:
        return value


def _country_codes() -> list[str]:
    codes = [code for code, _name in countries]
    return ["", *codes, *(code.lower() for code in codes)]


@extend_schema_field({"type": "string", "enum": _country_codes()})
class CountryCodeField(serializers.CharField):
    """An ISO 3166-1 alpha-2 code ("DE", any case; blank for none): stored and sent as the
    code, shown by name on the dashboard. Anything else is a 400 naming the field."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 2)
        kwargs.setdefault("help_text", 'ISO 3166-1 alpha-2 code, e.g. "DE"; blank for none.')
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data).upper()
        if text and text not in countries:
            raise ValidationError(
                f"Unknown country code {text!r}: use an ISO 3166-1 alpha-2 code such as DE.",
                code="invalid",
            )
        return text


class ShopperInSerializer(StrictInputSerializer):
    country = CountryCodeField(required=False, allow_blank=True)
    segment = serializers.CharField(max_length=64, required=False, allow_blank=True)
    points_balance = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    interests = SlugListField(
        required=False,
        help_text="Category slugs the shopper declared an interest in (replaces the list).",
    )


class ShopperOutSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    country = serializers.CharField(help_text='ISO 3166-1 code, e.g. "DE"; empty for none.')
    country_name = serializers.CharField(help_text='e.g. "Germany"; empty for none.')
    segment = serializers.CharField()
    points_balance = serializers.IntegerField()
    interests = serializers.ListField(child=serializers.CharField())
    created = serializers.BooleanField(help_text="True when this call created the shopper.")


@extend_validation_errors(["invalid"], field_name="external_id", methods=["put"])
@extend_validation_errors(["invalid"], field_name="interests", methods=["put"])
@extend_schema(
    operation_id="shoppers_upsert",
    parameters=[
        OpenApiParameter(
            "external_id",
            {"type": "string", "maxLength": 128, "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"},
            OpenApiParameter.PATH,
        )
    ],
    request=ShopperInSerializer,
    responses={200: ShopperOutSerializer, 201: ShopperOutSerializer},
    description=(
        "Create or update a shopper by your external id. Fields left out keep their value. "
        "A new points balance or country takes effect in the very next recommendation."
    ),
)
@api_view(["PUT"])
@permission_classes([CanWriteShoppers])
def shopper_upsert(request: Request, external_id: str) -> Response:
    if len(external_id) > 128 or unstorable(external_id) or not external_id.strip():
        raise ValidationError(
            {"external_id": ["Not blank, at most 128 characters, no NUL characters."]},
            code="invalid",
        )
    incoming = ShopperInSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    try:
        shopper, created = upsert_shopper(external_id=external_id, **incoming.validated_data)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict, code="invalid") from exc
    body = _shopper_body(shopper, created=created)
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _shopper_body(shopper: Shopper, *, created: bool) -> dict[str, Any]:
    return {
        "external_id": shopper.external_id,
        "country": shopper.country.code,
        "country_name": shopper.country.name,
        "segment": shopper.segment,
        "points_balance": shopper.points_balance,
        "interests": sorted(c.slug for c in shopper.interests.all()),
        "created": created,
    }
