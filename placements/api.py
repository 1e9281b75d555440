"""The placement endpoint: what the shop's front end asks for by placement name."""

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
from placements.services import (
    MAX_CART,
    MissingContext,
    live_placement_recommendations,
    parse_cart,
    serve_placement,
)
from recommender.serving.api import (
    RECOMMENDATION_ID_HELP,
    ModelVersionRefSerializer,
    RecommendationSerializer,
    ShopperRefSerializer,
)
from recommender.serving.products import ProductNotFound
from recommender.serving.rules import InvalidRequest


class PlacementQuerySerializer(StrictQuerySerializer):
    shopper = serializers.CharField(
        required=False,
        max_length=128,
        help_text="The shopper's external id; leave out for an anonymous visitor.",
    )
    product = serializers.CharField(
        required=False,
        max_length=64,
        help_text="The sku of the product page (needed by product-page placements); never "
        "recommended itself.",
    )
    cart = serializers.CharField(
        required=False,
        max_length=64 * MAX_CART + MAX_CART,
        help_text=f"The cart's skus, comma-separated (at most {MAX_CART}); unknown ones are "
        "ignored.",
    )
    k = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.SHELFWISE_MAX_K,
        help_text="How many products (default: the placement's own).",
    )
    country = CountryCodeField(
        required=False,
        allow_blank=True,
        help_text='ISO 3166-1 code (e.g. "DE") when the shopper is unknown or has none.',
    )

    def validate_cart(self, value: str) -> tuple[str, ...]:
        try:
            return parse_cart(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class PlacedItemSerializer(RecommendationSerializer):
    marks = serializers.ListField(
        child=serializers.CharField(),
        help_text='What the merchandiser\'s rules did to it, e.g. "pinned", "boosted strong", '
        '"promotion share"; empty when the model put it there alone.',
    )


class PlacementBodySerializer(serializers.Serializer):
    placement = serializers.CharField()
    strategy = serializers.CharField(help_text="The slot (or product list) that ranked it.")
    recommendation_id = serializers.UUIDField(help_text=RECOMMENDATION_ID_HELP)
    variant = serializers.CharField(
        allow_blank=True,
        help_text='The A/B test variant served ("<experiment id>:<variant name>"); empty when no '
        "test runs on the placement or the visitor is anonymous (who gets the control).",
    )
    count = serializers.IntegerField()
    results = PlacedItemSerializer(many=True)
    model_version = ModelVersionRefSerializer(allow_null=True)
    sources = serializers.ListField(child=serializers.CharField())
    shopper = ShopperRefSerializer()
    product = serializers.CharField(
        allow_null=True, help_text="The sku a product list is about, or the page's product."
    )
    generated_at = serializers.DateTimeField()


@extend_schema(
    operation_id="placement_recommendations",
    parameters=[PlacementQuerySerializer],
    responses={
        200: PlacementBodySerializer,
        400: OpenApiResponse(QueryValidationErrorSerializer, description="A parameter is invalid."),
        404: OpenApiResponse(description="No active placement by this name, or no such product."),
    },
    description=(
        "The products for one placement of the shop (e.g. `home-for-you`), as the merchandiser "
        "set it up: its slot and fallback chain, exclusions (cart, purchases, the page's "
        "product), diversity caps, and the live rules in their documented order (filters, "
        "boost/bury, pins, promotion share). Each item's `marks` says which rules moved it. "
        "While an A/B test runs on the placement, each shopper gets their variant (sticky), "
        "named in `variant`; a holdout variant answers an empty list."
    ),
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def placement_recommendations_view(request: Request, name: str) -> Response:
    reject_nul(value=name, what="placement")
    query = query_params(PlacementQuerySerializer, request)
    now = timezone.now()
    try:
        result = live_placement_recommendations(
            name=name,
            now=now,
            shopper=query.get("shopper", ""),
            product=query.get("product", ""),
            cart=query.get("cart", ()),
            k=query.get("k"),
            country=query.get("country", ""),
        )
    except (MissingContext, InvalidRequest) as exc:
        raise ValidationError({exc.field: [str(exc)]}) from exc
    except ProductNotFound as exc:
        raise NotFound(f"No product with sku {query.get('product', '')[:64]!r}.") from exc
    if result is None:
        raise NotFound(f"No active placement named {name[:80]!r}.")
    return Response(serve_placement(result, now=now).as_dict())
