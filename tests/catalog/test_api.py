"""Products through the HTTP API: list with filters and strict pagination, upsert, bulk."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from catalog.models import Product
from tests.conftest import api_client
from tests.factories import CategoryFactory, ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_client() -> APIClient:
    return api_client()


def _skus(response) -> list[str]:
    return [p["sku"] for p in response.json()["results"]]


def test_products_filter_by_category_including_sub_categories(shop_client):
    home = CategoryFactory(slug="home")
    mugs = CategoryFactory(slug="mugs", parent=home)
    ProductFactory(sku="A", category=mugs)
    ProductFactory(sku="B", category=CategoryFactory(slug="garden"))

    response = shop_client.get("/api/v1/products", {"category": "home"})

    assert _skus(response) == ["A"]


def test_products_filter_by_stock_activity_and_promotion(shop_client):
    ProductFactory(sku="IN", stock=3)
    ProductFactory(sku="OUT", stock=0)
    ProductFactory(sku="OFF", is_active=False)
    promoted_category = CategoryFactory(slug="promo")
    ProductFactory(sku="PROMO", category=promoted_category)
    promotion = PromotionFactory()
    promotion.categories.add(promoted_category)

    in_stock = shop_client.get("/api/v1/products", {"in_stock": "true", "is_active": "true"})
    promoted = shop_client.get("/api/v1/products", {"promotion": promotion.pk})
    on_promotion = shop_client.get("/api/v1/products", {"on_promotion": "true"})

    assert _skus(in_stock) == ["IN", "PROMO"]
    assert _skus(promoted) == ["PROMO"] == _skus(on_promotion)


@pytest.mark.parametrize("value", ["", "yes", "1"])
def test_a_yes_no_filter_that_is_not_true_or_false_is_a_400(shop_client, value):
    ProductFactory(sku="OUT", stock=0)

    response = shop_client.get("/api/v1/products", {"in_stock": value})

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "in_stock"


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}, {"limit": "x"}])
def test_pagination_out_of_range_is_a_400_not_a_silent_clamp(shop_client, params):
    response = shop_client.get("/api/v1/products", params)

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == next(iter(params))


def test_pagination_pages_through_products_in_sku_order(shop_client):
    for sku in "CBA":
        ProductFactory(sku=sku)

    response = shop_client.get("/api/v1/products", {"limit": 2, "offset": 1})

    assert response.json()["count"] == 3
    assert _skus(response) == ["B", "C"]


# PUT used to keep omitted optional fields; it now replaces (issue 11), so the price-only
# update that keeps the stock is a PATCH.
def test_put_creates_a_product_then_patch_updates_its_price(shop_client):
    created = shop_client.put(
        "/api/v1/products/MUG-1",
        {"title": "Blue Mug", "price": "9.50", "category": "Home/Kitchen", "stock": 4},
        format="json",
    )
    updated = shop_client.patch("/api/v1/products/MUG-1", {"price": "7.25"}, format="json")

    assert created.status_code == 201 and updated.status_code == 200
    product = Product.objects.get(sku="MUG-1")
    assert product.price == Decimal("7.25") and product.stock == 4
    assert product.category.name == "Kitchen"
    assert updated.json()["price"] == "7.25"


def test_put_without_a_price_is_a_400_naming_the_field(shop_client):
    response = shop_client.put("/api/v1/products/MUG-2", {"title": "Mug"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "price"
    assert not Product.objects.filter(sku="MUG-2").exists()


def test_unknown_product_is_a_json_404(shop_client):
    response = shop_client.get("/api/v1/products/NOPE")

    assert response.status_code == 404
    assert response.json()["type"] == "client_error"


def test_bulk_upsert_reports_each_row_and_stores_the_valid_ones(shop_client):
    ProductFactory(sku="OLD", price=Decimal("1.00"))
    rows = [
        {"sku": "OLD", "title": "Old", "price": "2.00"},
        {"sku": "NEW", "title": "New", "price": "3.00"},
        {"sku": "BAD", "title": "Bad"},
        {"sku": "NEG", "title": "Neg", "price": "1", "stock": -2},
    ]

    response = shop_client.post("/api/v1/products/bulk", {"products": rows}, format="json")

    body = response.json()
    assert [r["status"] for r in body["results"]] == ["updated", "created", "invalid", "invalid"]
    assert "price" in body["results"][2]["errors"] and "stock" in body["results"][3]["errors"]
    assert set(Product.objects.values_list("sku", flat=True)) == {"OLD", "NEW"}


def test_bulk_upsert_over_the_limit_is_a_413(shop_client):
    rows = [{"sku": f"S{n}", "title": "t", "price": "1"} for n in range(1001)]

    response = shop_client.post("/api/v1/products/bulk", {"products": rows}, format="json")

    assert response.status_code == 413
    assert not Product.objects.exists()


def test_a_dashboard_user_without_staff_rights_cannot_change_products(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="u", password="p-12345678"))

    response = client.put(
        "/api/v1/products/X", {"title": "x", "price": "1"}, content_type="application/json"
    )

    assert response.status_code == 403


def test_put_with_a_category_that_names_no_category_is_a_400_naming_the_field(shop_client):
    response = shop_client.put(
        "/api/v1/products/MUG-3", {"title": "Mug", "price": "1.00", "category": "/"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "category"
    assert not Product.objects.filter(sku="MUG-3").exists()


def test_bulk_upsert_reports_a_category_that_names_no_category_on_its_row(shop_client):
    rows = [
        {"sku": "GOOD", "title": "Good", "price": "1.00", "category": "Home/Kitchen"},
        {"sku": "BAD", "title": "Bad", "price": "1.00", "category": "/"},
    ]

    response = shop_client.post("/api/v1/products/bulk", {"products": rows}, format="json")

    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created", "invalid"]
    assert list(response.json()["results"][1]["errors"]) == ["category"]
    assert list(Product.objects.values_list("sku", flat=True)) == ["GOOD"]


def test_put_to_a_sku_with_surrounding_spaces_is_a_400_and_stores_nothing(shop_client):
    # The service strips keys: storing "R5" for a PUT to "R5 " would answer 404 for what it made.
    response = shop_client.put("/api/v1/products/R5%20", {"title": "x", "price": "1"}, "json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "sku"
    assert not Product.objects.exists()


def test_bulk_results_name_each_product_by_the_sku_it_is_stored_under(shop_client):
    rows = [{"sku": "  PADDED ", "title": "t", "price": "1"}]

    response = shop_client.post("/api/v1/products/bulk", {"products": rows}, format="json")

    assert response.json()["results"][0] == {"index": 0, "sku": "PADDED", "status": "created"}
    assert shop_client.get("/api/v1/products/PADDED").status_code == 200


@pytest.mark.parametrize("attributes", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_bulk_attributes_with_non_json_numbers_fail_their_row_only(shop_client, attributes):
    rows = [
        {"sku": "GOOD", "title": "t", "price": "1"},
        {"sku": "NAN", "title": "t", "price": "1", "attributes": attributes},
    ]

    response = shop_client.post("/api/v1/products/bulk", {"products": rows}, format="json")

    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created", "invalid"]
    assert "attributes" in response.json()["results"][1]["errors"]
    assert list(Product.objects.values_list("sku", flat=True)) == ["GOOD"]


def test_bulk_currency_must_be_three_ascii_letters_as_on_put(shop_client):
    rows = [{"sku": "EUR-ISH", "title": "t", "price": "1", "currency": "ßa"}]

    bulk = shop_client.post("/api/v1/products/bulk", {"products": rows}, format="json")
    put = shop_client.put(
        "/api/v1/products/EUR-ISH", {"title": "t", "price": "1", "currency": "ßa"}, "json"
    )

    assert bulk.json()["results"][0]["status"] == "invalid"
    assert "currency" in bulk.json()["results"][0]["errors"]
    assert put.status_code == 400
    assert not Product.objects.exists()


def test_bulk_rows_with_unstorable_text_fail_that_field_and_the_others_are_stored(shop_client):
    rows = [
        {"sku": "GOOD", "title": "t", "price": "1"},
        {"sku": "NUL", "title": "a\x00b", "price": "1"},
        {"sku": "SURROGATE", "title": "t", "price": "1", "attributes": {"c": "\ud83d"}},
        {"sku": "K\x00EY", "title": "t", "price": "1"},
    ]

    # json.dumps escapes the lone surrogate (\ud83d), as a client's JSON would carry it.
    response = shop_client.post(
        "/api/v1/products/bulk", json.dumps({"products": rows}), content_type="application/json"
    )

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "invalid", "invalid"]
    assert "No NUL characters" in results[1]["errors"]["title"][0]
    assert "No NUL characters" in results[3]["errors"]["sku"][0]
    assert "No NUL characters" in results[2]["errors"]["attributes"][0]
    assert list(Product.objects.values_list("sku", flat=True)) == ["GOOD"]


def test_put_with_unstorable_attributes_is_a_400_naming_the_field(shop_client):
    response = shop_client.put(
        "/api/v1/products/P-1",
        {"title": "t", "price": "1", "attributes": {"c": "a\x00b"}},
        format="json",
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["attr"] == "attributes" and "No NUL characters" in error["detail"]
    assert not Product.objects.exists()


def test_patch_changes_only_the_stock_and_keeps_every_other_field(shop_client):
    ProductFactory(sku="MUG-1", title="Blue Mug", brand="Lumo", stock=4, attributes={"c": "b"})

    response = shop_client.patch("/api/v1/products/MUG-1", {"stock": 0}, format="json")

    assert response.status_code == 200
    assert response.json()["stock"] == 0 and response.json()["in_stock"] is False
    product = Product.objects.get(sku="MUG-1")
    assert (product.title, product.brand, product.attributes) == ("Blue Mug", "Lumo", {"c": "b"})


def test_patch_of_an_unknown_sku_is_a_404_and_creates_nothing(shop_client):
    response = shop_client.patch("/api/v1/products/NOPE", {"stock": 3}, format="json")

    assert response.status_code == 404
    assert not Product.objects.exists()


def test_patch_with_a_bad_value_is_a_400_and_changes_nothing(shop_client):
    ProductFactory(sku="MUG-1", stock=4)

    response = shop_client.patch("/api/v1/products/MUG-1", {"stock": -1}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "stock"
    assert Product.objects.get(sku="MUG-1").stock == 4


def test_put_replaces_the_product_so_omitted_optional_fields_take_their_defaults(shop_client):
    shop_client.put(
        "/api/v1/products/MUG-1",
        {
            "title": "Blue Mug",
            "price": "9.50",
            "category": "Home/Kitchen",
            "brand": "Lumo",
            "stock": 4,
            "currency": "EUR",
            "is_active": False,
            "points_price": 100,
            "attributes": {"colour": "blue"},
        },
        format="json",
    )

    response = shop_client.put(
        "/api/v1/products/MUG-1", {"title": "Blue Mug", "price": "7.25"}, format="json"
    )

    assert response.status_code == 200
    product = Product.objects.get(sku="MUG-1")
    assert product.price == Decimal("7.25")
    assert (product.category, product.brand, product.stock, product.currency) == (
        None,
        "",
        None,
        "GBP",
    )
    assert (product.is_active, product.points_price, product.attributes) == (True, None, {})


def test_the_schema_documents_patch_and_put_on_a_product(shop_client):
    from drf_spectacular.generators import SchemaGenerator

    operations = SchemaGenerator().get_schema(request=None, public=True)["paths"][
        "/api/v1/products/{sku}"
    ]

    assert operations["patch"]["operationId"] == "products_partial_update"
    assert "title" not in operations["patch"]["requestBody"]["content"]["application/json"][
        "schema"
    ].get("required", [])
    assert "replace" in operations["put"]["description"]
