"""REST endpoints for recommendations: a shopper's slots, similar items, bought together."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from behavior.api import CountryCodeField
from config.api import (
    QueryValidationErrorSerializer,
    StrictQuerySerializer,
    query_params,
    reject_nul,
)
from config.storable import unstorable
from recommender.proof.shown import serve
from recommender.serving.products import ProductNotFound, bought_together, similar_products
from recommender.serving.registry import slot_names
from recommender.serving.rules import InvalidRequest
from recommender.serving.service import recommend


class KQuerySerializer(StrictQuerySerializer):
    k = serializers.IntegerField(
        min_value=1,
        max_value=settings.SHELFWISE_MAX_K,
        default=settings.SHELFWISE_DEFAULT_K,
        help_text="How many products (at most 100).",
    )


class SlotField(serializers.ChoiceField):
    """One of the registered slots, read from the registry each time a serializer is made."""

    def __init__(self, **kwargs) -> None:
        super().__init__(choices=slot_names(), **kwargs)


class RecommendationsQuerySerializer(KQuerySerializer):
    slot = SlotField(default="for_you")
    country = CountryCodeField(
        required=False,
        allow_blank=True,
        help_text='ISO 3166-1 code (e.g. "DE") for cold start, used when the shopper is unknown '
        "or has none.",
    )


class ProductCardSerializer(serializers.Serializer):
    sku = serializers.CharField()
    title = serializers.CharField()
    price = serializers.CharField(help_text="Decimal as text, e.g. 9.99.")
    currency = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    category_slug = serializers.CharField(allow_null=True)
    brand = serializers.CharField(allow_blank=True)
    stock = serializers.IntegerField(allow_null=True)
    in_stock = serializers.BooleanField()
    points_price = serializers.IntegerField(allow_null=True)
    image_url = serializers.CharField(allow_blank=True, help_text="Empty when the shop sent none.")


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine code, e.g. because_you_view, promotion.")
    text = serializers.CharField(
        help_text='A sentence for the shopper, e.g. "trending in Germany".'
    )


class RecommendationSerializer(serializers.Serializer):
    position = serializers.IntegerField(
        help_text="1 = first. Send it back with the recommendation id on the shopper's events."
    )
    product = ProductCardSerializer()
    score = serializers.FloatField()
    reason = ReasonSerializer()
    source = serializers.CharField(
        help_text='Model version (e.g. "als@v12") or the fallback used (e.g. "fallback:newest").'
    )


class ModelVersionRefSerializer(serializers.Serializer):
    algorithm = serializers.CharField()
    version = serializers.IntegerField()
    uuid = serializers.CharField()


class ShopperRefSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    known = serializers.BooleanField(help_text="False: unknown shopper, cold-start list.")


# Every response that shows products carries one (slots, product lists, placements).
RECOMMENDATION_ID_HELP = (
    "New for every response served, cached or not. The shop's front end sends it back (with the "
    "item's `position`) on the view, cart and purchase events of a shopper who follows one of "
    "these products, so they can be attributed."
)


class ListBodySerializer(serializers.Serializer):
    slot = serializers.CharField()
    recommendation_id = serializers.UUIDField(help_text=RECOMMENDATION_ID_HELP)
    count = serializers.IntegerField()
    results = RecommendationSerializer(many=True)
    model_version = ModelVersionRefSerializer(allow_null=True)
    sources = serializers.ListField(child=serializers.CharField())
    generated_at = serializers.DateTimeField(allow_null=True)
    cached = serializers.BooleanField()


class RecommendationsBodySerializer(ListBodySerializer):
    shopper = ShopperRefSerializer()
    empty_reason = ReasonSerializer(
        allow_null=True,
        help_text='Why `results` is empty by design, e.g. `no_purchases` for "buy_again" when '
        "the shopper never bought anything; null otherwise.",
    )


class ProductListBodySerializer(ListBodySerializer):
    product = serializers.CharField(help_text="The sku the list is about.")


_BAD_QUERY = OpenApiResponse(QueryValidationErrorSerializer, description="A parameter is invalid.")


@extend_schema(
    operation_id="shopper_recommendations",
    parameters=[RecommendationsQuerySerializer],
    responses={200: RecommendationsBodySerializer, 400: _BAD_QUERY},
    description=(
        "The shopper's best products for a slot, computed from their events up to this request. "
        "Unknown shoppers get the cold-start list (trending in `country`). Every item says why "
        "(`reason`) and what produced it (`source`: model version or fallback)."
    ),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def shopper_recommendations(request: Request, external_id: str) -> Response:
    if len(external_id) > 128 or unstorable(external_id):
        raise ValidationError({"external_id": ["At most 128 characters, no NUL characters."]})
    query = query_params(RecommendationsQuerySerializer, request)
    try:
        result = recommend(
            shopper=external_id,
            slot=query["slot"],
            k=query["k"],
            now=timezone.now(),
            country=query.get("country", ""),
        )
    except InvalidRequest as exc:
        raise ValidationError({exc.field: [str(exc)]}) from exc
    # Buffered for one pipelined Redis call a second: the dashboard's reach and "recommended in
    # the last day", and the response's impression (with its fresh recommendation id).
    return Response(serve(result, placement=query["slot"], now=timezone.now()).as_dict())


@extend_schema(
    operation_id="product_similar",
    parameters=[KQuerySerializer],
    responses={200: ProductListBodySerializer, 400: _BAD_QUERY},
    description=(
        "Products like this one: behavioural neighbours (item-kNN) blended with content "
        "neighbours (title, description, category, brand, price band), leaning on content for "
        "products few shoppers touched; each result's reason says which. Only active, in-stock "
        "products."
    ),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def product_similar(request: Request, sku: str) -> Response:
    return _product_list(request, sku, similar_products, placement="similar")


@extend_schema(
    operation_id="product_bought_together",
    parameters=[KQuerySerializer],
    responses={200: ProductListBodySerializer, 400: _BAD_QUERY},
    description=(
        "Products bought or browsed in the same orders and sessions as this one, completed by "
        "similar products when it has few baskets."
    ),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def product_bought_together(request: Request, sku: str) -> Response:
    return _product_list(request, sku, bought_together, placement="bought_together")


def _product_list(request: Request, sku: str, selector, *, placement: str) -> Response:
    reject_nul(value=sku, what="product")
    query = query_params(KQuerySerializer, request)
    try:
        result = selector(sku=sku, k=query["k"], now=timezone.now())
    except ProductNotFound as exc:
        raise NotFound(f"No product with sku {sku!r}.") from exc
    return Response(serve(result, placement=placement, now=timezone.now()).as_dict())
