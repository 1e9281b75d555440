"""REST endpoints that keep the catalog in sync: list and filter products, replace (PUT) or
partly update (PATCH) one by sku, bulk upsert."""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import generics, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import (
    IMAGE_URL_MAX_LENGTH,
    IMAGE_URL_PATTERN,
    IMAGE_URL_RULE,
    Category,
    CategoryTree,
    Product,
    Promotion,
)
from catalog.permissions import CanWriteProducts
from catalog.services import upsert_products
from config.api import (
    UNKNOWN_FIELD,
    ErrorResponse413Serializer,
    PayloadTooLarge,
    StrictInputSerializer,
    StrictLimitOffsetPagination,
    clip_errors,
    reject_nul,
    reject_unknown_item_fields,
    unknown_fields_message,
)
from config.storable import unstorable

# Fields every upserted row must carry: a product cannot be created without them, and PUT
# describes the whole product.
REQUIRED_FIELDS = ("title", "price")
CATEGORY_PATTERN = r"^(?:\s*|(?=[\s\S]*[^/\s])[^/]{0,120}(?:/[^/]{0,120})*)$"
# What PUT stores for an optional field it leaves out: PUT replaces the whole product.
PUT_DEFAULTS: dict[str, Any] = {
    "description": "",
    "category": None,
    "brand": "",
    "currency": "GBP",
    "stock": None,
    "is_active": True,
    "points_price": None,
    "attributes": {},
}


class ProductOutSerializer(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    category_name = serializers.CharField(source="category.name", read_only=True, allow_null=True)
    in_stock = serializers.BooleanField(read_only=True)

    class Meta:
        model = Product
        fields = [
            "sku",
            "title",
            "description",
            "category",
            "category_name",
            "brand",
            "price",
            "currency",
            "stock",
            "in_stock",
            "is_active",
            "points_price",
            "attributes",
            "image_url",
            "created_at",
            "updated_at",
        ]


class ProductInSerializer(StrictInputSerializer):
    """A product as the shop describes it. PUT replaces: an optional field left out takes its
    default. PATCH changes only the fields it names."""

    title = serializers.CharField(max_length=255)
    price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, coerce_to_string=True
    )
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.RegexField(
        # Blank (no category), or names of at most 120 characters separated by "/" with at
        # least one that is not blank: what the product service can resolve.
        CATEGORY_PATTERN,
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=500,
        error_messages={"invalid": "A slug, or a path of names of at most 120 characters."},
        trim_whitespace=False,  # checked as sent, as the schema states; the service trims
        help_text='A category slug or a path such as "Home/Kitchen/Mugs" (created if missing).',
    )
    brand = serializers.CharField(max_length=120, required=False, allow_blank=True)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False, help_text="ISO 4217.")
    stock = serializers.IntegerField(
        min_value=0, max_value=2_147_483_647, required=False, allow_null=True
    )
    is_active = serializers.BooleanField(required=False)
    points_price = serializers.IntegerField(
        min_value=1, max_value=2_147_483_647, required=False, allow_null=True
    )
    attributes = serializers.DictField(required=False)
    image_url = serializers.RegexField(
        IMAGE_URL_PATTERN,
        max_length=IMAGE_URL_MAX_LENGTH,
        required=False,
        allow_blank=True,
        error_messages={"invalid": IMAGE_URL_RULE},
        help_text="A picture: an http(s) address or a path on this site (/static/…); empty for "
        "none (the dashboard shows a placeholder).",
    )


class ProductBulkRowSerializer(ProductInSerializer):
    sku = serializers.CharField(max_length=64)


class ProductBulkInSerializer(StrictInputSerializer):
    products = ProductBulkRowSerializer(many=True, max_length=settings.SHELFWISE_MAX_BATCH)


class UpsertStatusSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    sku = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "invalid"])
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ProductBulkOutSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    results = UpsertStatusSerializer(many=True)


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false`` only: django-filter's BooleanFilter reads anything else as "no
    filter", so a typo would silently return every product."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if value in ("", None):
            return qs
        return super().filter(qs, value)


class ProductFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(
        method="filter_category", help_text="Category slug; sub-categories are included."
    )
    brand = django_filters.CharFilter(field_name="brand", lookup_expr="iexact")
    is_active = StrictBooleanFilter(field_name="is_active")
    in_stock = StrictBooleanFilter(
        method="filter_in_stock", help_text="Stock not tracked or above zero."
    )
    promotion = django_filters.NumberFilter(
        method="filter_promotion", help_text="Promotion id: its products and categories."
    )
    on_promotion = StrictBooleanFilter(
        method="filter_on_promotion", help_text="In a promotion active right now."
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        root = Category.objects.filter(slug=value).first()
        if root is None:
            return queryset.none()
        return queryset.filter(category_id__in=CategoryTree.load().with_descendants({root.pk}))

    def filter_in_stock(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        in_stock = Q(stock__isnull=True) | Q(stock__gt=0)
        return queryset.filter(in_stock) if value else queryset.exclude(in_stock)

    def filter_promotion(self, queryset: QuerySet, name: str, value: Any) -> QuerySet:
        if value != int(value) or not 1 <= value < 2**63:
            # The schema says int64 id; beyond it is a client error, not "no products".
            raise ValidationError({"promotion": ["A promotion id, a whole number ≥ 1."]})
        return queryset.filter(Promotion.objects.filter(pk=int(value)).covering())

    def filter_on_promotion(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        condition = Promotion.objects.active(at=timezone.now()).covering()
        return queryset.filter(condition) if value else queryset.exclude(condition)


class ProductList(generics.ListAPIView):
    """Products in sku order, filtered and paginated (limit ≤ 100; out of range is a 400)."""

    serializer_class = ProductOutSerializer
    permission_classes = [IsAuthenticated]
    pagination_class = StrictLimitOffsetPagination
    filterset_class = ProductFilter

    def get_queryset(self) -> QuerySet[Product]:
        return Product.objects.select_related("category").order_by("sku").distinct()

    @extend_schema(
        operation_id="products_list",
        # django-filter's choice filters would be documented as a boolean with string values.
        parameters=[
            OpenApiParameter(
                "is_active", bool, description="Inactive products are never recommended."
            ),
            OpenApiParameter("in_stock", bool, description="Stock not tracked or above zero."),
            OpenApiParameter("on_promotion", bool, description="In a promotion active right now."),
            OpenApiParameter(
                "promotion",
                {"type": "integer", "format": "int64", "minimum": 1},
                description="Promotion id: its products and categories.",
            ),
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_validation_errors(["invalid"], field_name="sku", methods=["put"])
@extend_validation_errors(["invalid"], field_name="attributes", methods=["put", "patch"])
@extend_schema(
    methods=["GET"],
    operation_id="products_retrieve",
    responses={200: ProductOutSerializer},
    description="One product by sku; 404 when the sku is unknown.",
)
@extend_schema(
    methods=["PUT"],
    operation_id="products_upsert",
    parameters=[
        OpenApiParameter(
            "sku",
            # Python's \s: what str.strip() removes, so exactly the keys PUT refuses.
            {"type": "string", "maxLength": 64, "pattern": r"^[^\s\x00](?:[^\x00]*[^\s\x00])?$"},
            OpenApiParameter.PATH,
        )
    ],
    request=ProductInSerializer,
    responses={200: ProductOutSerializer, 201: ProductOutSerializer},
    description=(
        "Create the product with this sku, or replace it: an optional field left out takes "
        "its default (no description, category, brand, stock limit or points price; GBP; "
        "active; no attributes). To change some fields only, use PATCH. A stock or price "
        "change, or a deactivation, takes effect in the very next recommendation response."
    ),
)
@extend_schema(
    methods=["PATCH"],
    operation_id="products_partial_update",
    request=ProductInSerializer(partial=True),
    responses={200: ProductOutSerializer},
    description=(
        'Change only the fields sent (e.g. `{"stock": 0}`); the others keep their value. '
        "404 when the sku is unknown: PATCH never creates a product."
    ),
)
@api_view(["GET", "PUT", "PATCH"])
@permission_classes([CanWriteProducts])
def product_detail(request: Request, sku: str) -> Response:
    if request.method == "GET":
        reject_nul(value=sku, what="product")
        return Response(ProductOutSerializer(_product(sku)).data)
    if request.method == "PATCH":
        reject_nul(value=sku, what="product")
        _product(sku)  # 404 before validating: PATCH never creates
        incoming = ProductInSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        _write_product(sku, dict(incoming.validated_data))
        return Response(ProductOutSerializer(_product(sku)).data)
    if len(sku) > 64 or unstorable(sku) or sku != sku.strip():
        # Surrounding spaces: the service strips them, so the product would be stored under
        # another key than the URL names.
        raise ValidationError(
            {"sku": ["At most 64 characters, no NUL characters, no surrounding spaces."]},
            code="invalid",
        )
    incoming = ProductInSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    created = _write_product(sku, PUT_DEFAULTS | incoming.validated_data) == "created"
    return Response(
        ProductOutSerializer(_product(sku)).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


def _write_product(sku: str, values: dict[str, Any]) -> str:
    """Upsert one product; its status, or a 400 with the service's field errors."""
    # Unstorable text in any field (attributes included) is the service's field error.
    result = upsert_products(rows=[{**values, "sku": sku}])
    if result.invalid:
        raise ValidationError(clip_errors(result.errors[0]), code="invalid")
    return result.statuses[0]


def _product(sku: str) -> Product:
    product = Product.objects.select_related("category").filter(sku=sku).first()
    if product is None:
        raise NotFound(f"No product with sku {sku!r}.")
    return product


@extend_validation_errors(["not_a_list", UNKNOWN_FIELD], field_name="products", methods=["post"])
@extend_schema(
    operation_id="products_bulk_upsert",
    request=ProductBulkInSerializer,
    responses={
        200: ProductBulkOutSerializer,
        413: OpenApiResponse(ErrorResponse413Serializer, description="More than 1,000 products."),
    },
    description=(
        "Create or update up to 1,000 products at once. Each row gets a status by index; "
        "invalid rows are reported and never written, the valid ones are."
    ),
)
@api_view(["POST"])
@permission_classes([CanWriteProducts])
def products_bulk_upsert(request: Request) -> Response:
    rows = _product_rows(request.data)
    reject_unknown_item_fields(
        items=rows, allowed=ProductBulkRowSerializer().fields, name="products"
    )
    statuses: list[str] = ["invalid"] * len(rows)
    errors: dict[int, dict[str, list[str]]] = {}
    positions: list[int] = []
    for index, row in enumerate(rows):
        row_errors = _row_errors(row)
        if row_errors:
            errors[index] = row_errors
        else:
            positions.append(index)
    result = upsert_products(rows=[rows[i] for i in positions])
    for position, index in enumerate(positions):
        statuses[index] = result.statuses[position]
        if position in result.errors:
            errors[index] = result.errors[position]
    errors = {index: clip_errors(row_errors) for index, row_errors in errors.items()}
    results = [
        {
            "index": i,
            # The key as stored: the service strips surrounding spaces.
            "sku": row["sku"].strip()
            if isinstance(row, dict) and isinstance(row.get("sku"), str)
            else None,
            "status": s,
            **({"errors": errors[i]} if i in errors else {}),
        }
        for i, (row, s) in enumerate(zip(rows, statuses, strict=True))
    ]
    return Response({name: statuses.count(key) for name, key in _COUNTS} | {"results": results})


_COUNTS = (
    ("created", "created"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("invalid", "invalid"),
)


def _product_rows(data: Any) -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise ValidationError({"products": ["Expected a list of products."]}, code="not_a_list")
    if set(data) != {"products"}:
        raise ValidationError(
            {"non_field_errors": [unknown_fields_message(set(data) - {"products"})]},
            code=UNKNOWN_FIELD,
        )
    rows = data["products"]
    limit = settings.SHELFWISE_MAX_BATCH
    if len(rows) > limit:
        raise PayloadTooLarge(f"{len(rows)} products in one call; send at most {limit}.")
    return rows


def _row_errors(row: Any) -> dict[str, list[str]]:
    """Checks the service leaves to the caller: the row's shape and required fields (it refuses
    unstorable text itself, field by field)."""
    if not isinstance(row, dict):
        return {"non_field_errors": ["Each product must be a JSON object."]}
    errors = {
        name: ["This field is required."]
        for name in ("sku", *REQUIRED_FIELDS)
        if row.get(name) in (None, "")
    }
    for name, value in row.items():
        if isinstance(value, (dict, list)) and name != "attributes":
            errors.setdefault(name, []).append("Must be a single value.")
    return errors
