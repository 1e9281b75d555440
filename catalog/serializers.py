"""The product API's serializers: what a product looks like going out and coming in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import (
    IMAGE_URL_MAX_LENGTH,
    IMAGE_URL_PATTERN,
    IMAGE_URL_RULE,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    TAG_PATTERN,
    TAGS_RULE,
    Product,
    tags_error,
)
from config.api import StrictInputSerializer

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
    "tags": [],
}


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_TAGS,
        "items": {"type": "string", "maxLength": TAG_MAX_LENGTH, "pattern": TAG_PATTERN},
    }
)
class TagsField(serializers.ListField):
    """Tags checked as one value: a bad one is an error on ``tags`` itself (per-item errors
    would be ``tags.0``, an attribute the documented error shape does not have)."""

    def to_internal_value(self, data: Any) -> list[str]:
        if tags_error(data):
            raise serializers.ValidationError(TAGS_RULE, code="invalid")
        return data


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
            "tags",
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
    tags = TagsField(
        required=False,
        help_text="Short labels rules can match (no commas), stored in lower case.",
    )
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
