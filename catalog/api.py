"""REST endpoints that keep the catalog in sync: list and filter products, replace (PUT) or
partly update (PATCH) one by sku, bulk upsert."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import generics, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.filters import ProductFilter
from catalog.models import Product
from catalog.permissions import CanWriteProducts
from catalog.serializers import (
    PUT_DEFAULTS,
    REQUIRED_FIELDS,
    ProductBulkInSerializer,
    ProductBulkOutSerializer,
    ProductBulkRowSerializer,
    ProductInSerializer,
    ProductOutSerializer,
)
from catalog.services import upsert_products
from config.api import (
    UNKNOWN_FIELD,
    ErrorResponse413Serializer,
    PayloadTooLarge,
    StrictLimitOffsetPagination,
    clip_errors,
    reject_nul,
    reject_unknown_item_fields,
    unknown_fields_message,
)
from config.storable import unstorable


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


# No NUL, no surrounding whitespace as Python's str.strip() sees it: JSON Schema's \s (ECMA)
# leaves out \x1c-\x1f and \x85, which the service strips (schemathesis sent "\x1e").
_EDGE = r"\s\x00\x1c-\x1f\x85"
SKU_KEY_PATTERN = rf"^[^{_EDGE}](?:[^\x00]*[^{_EDGE}])?$"


@extend_validation_errors(["invalid"], field_name="sku", methods=["put"])
@extend_validation_errors(["invalid"], field_name="attributes", methods=["put", "patch"])
@extend_validation_errors(["invalid"], field_name="tags", methods=["put", "patch"])
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
            {"type": "string", "maxLength": 64, "pattern": SKU_KEY_PATTERN},
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
        if isinstance(value, (dict, list)) and name not in ("attributes", "tags"):
            errors.setdefault(name, []).append("Must be a single value.")
    return errors
