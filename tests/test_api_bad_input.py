"""Bad input on every API route answers a 4xx in the one error shape, names the culprit and
stores nothing (issue 11, security item 5)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from behavior.models import Event, Shopper
from catalog.models import Product
from recommender.models import TrainingRun
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

JSON_WRITES = [
    ("post", "/api/v1/events"),
    ("put", "/api/v1/shoppers/cust-1"),
    ("put", "/api/v1/products/MUG-1"),
    ("patch", "/api/v1/products/MUG-1"),
    ("post", "/api/v1/products/bulk"),
    ("post", "/api/v1/training-runs"),
    ("post", "/api/v1/model-versions/rollback"),
]


@pytest.fixture
def admin() -> Client:
    """A shop back-end token of a user holding every permission (writes may need them)."""
    user = get_user_model().objects.create_superuser("shop-admin", "a@example.com", "pw")
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


def _stored() -> tuple[int, ...]:
    return (
        Event.objects.count(),
        Shopper.objects.count(),
        Product.objects.count(),
        TrainingRun.objects.count(),
    )


def _send(client: Client, method: str, path: str, body: object):
    raw = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(path, raw, content_type="application/json")


def _error(response) -> dict:
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    assert len(errors) >= 1
    return errors[0]


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
def test_json_nested_1100_levels_deep_is_a_400_parse_error_on_every_json_write(admin, method, path):
    ProductFactory(sku="MUG-1")
    before = _stored()

    response = _send(admin, method, path, "[" * 1100 + "]" * 1100)

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "parse_error" and "nests more than 64 levels" in error["detail"]
    assert _stored() == before


def test_json_nested_within_the_limit_still_parses(admin):
    attributes: dict = {}
    for _ in range(30):
        attributes = {"a": attributes}

    response = _send(
        admin,
        "put",
        "/api/v1/products/DEEP",
        {"title": "t", "price": "1", "attributes": attributes},
    )

    assert response.status_code == 201


def test_a_nul_in_the_model_versions_algorithm_filter_is_a_400_naming_it(admin):
    response = admin.get("/api/v1/model-versions?algorithm=%00")

    assert response.status_code == 400
    assert _error(response)["attr"] == "algorithm"


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/shoppers/cust-1/recommendations?slot=", "slot"),
        ("/api/v1/shoppers/cust-1/recommendations?k=", "k"),
        ("/api/v1/products/MUG-1/similar?k=", "k"),
        ("/api/v1/products/MUG-1/bought-together?k=", "k"),
        ("/api/v1/products?limit=", "limit"),
        ("/api/v1/products?offset=", "offset"),
        ("/api/v1/training-runs?limit=", "limit"),
        ("/api/v1/model-versions?algorithm=", "algorithm"),
        ("/api/v1/model-versions?status=", "status"),
    ],
)
def test_an_empty_query_parameter_is_a_400_naming_it_not_the_default(admin, path, parameter):
    ProductFactory(sku="MUG-1")

    response = admin.get(path)

    assert response.status_code == 400
    error = _error(response)
    assert error["attr"] == parameter and "empty" in error["detail"]


def test_a_query_parameter_given_twice_is_a_400_naming_it(admin):
    response = admin.get("/api/v1/shoppers/cust-1/recommendations?k=5&k=50")

    assert response.status_code == 400
    assert _error(response)["attr"] == "k"


def test_an_error_quoting_a_long_value_quotes_at_most_a_few_hundred_characters(admin):
    response = admin.get("/api/v1/shoppers/cust-1/recommendations", {"slot": "x" * 50_000})

    assert response.status_code == 400
    detail = _error(response)["detail"]
    assert len(detail) <= 201 and detail.endswith("…")


def test_a_30_mb_event_field_is_not_echoed_back_whole(admin):
    body = {"events": [{"event_id": "e1", "shopper": "s1", "kind": "view", "product": "MUG-1"}]}
    body["events"][0]["occurred_at"] = "x" * (30 * 1024 * 1024)
    ProductFactory(sku="MUG-1")

    response = _send(admin, "post", "/api/v1/events", body)

    assert response.status_code == 200
    assert len(response.content) < 1_000
    [message] = response.json()["results"][0]["errors"]["occurred_at"]
    assert message.endswith("…")
    assert not Event.objects.exists()


def test_an_unknown_field_with_a_huge_name_is_named_but_clipped(admin):
    response = _send(
        admin, "put", "/api/v1/products/MUG-1", {"title": "t", "price": "1", "y" * 100_000: 1}
    )

    assert response.status_code == 400
    assert len(response.content) < 1_000
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "body", "attr", "named"),
    [
        (
            "post",
            "/api/v1/events",
            {
                "events": [
                    {
                        "event_id": "e1",
                        "shopper": "s1",
                        "kind": "view",
                        "product": "MUG-1",
                        "ocurred_at": "2024-01-01T00:00:00Z",
                    }
                ]
            },
            "events",
            "ocurred_at",
        ),
        ("post", "/api/v1/events", {"events": [], "batch": 1}, "non_field_errors", "batch"),
        ("put", "/api/v1/shoppers/cust-1", {"segmnet": "vip"}, "non_field_errors", "segmnet"),
        (
            "put",
            "/api/v1/products/NEW-1",
            {"title": "t", "price": "1", "colour": "red"},
            "non_field_errors",
            "colour",
        ),
        ("patch", "/api/v1/products/MUG-1", {"stok": 3}, "non_field_errors", "stok"),
        (
            "post",
            "/api/v1/products/bulk",
            {"products": [{"sku": "NEW-2", "title": "t", "price": "1", "colour": "red"}]},
            "products",
            "colour",
        ),
        (
            "post",
            "/api/v1/training-runs",
            {"algoritms": ["popularity"]},
            "non_field_errors",
            "algoritms",
        ),
        (
            "post",
            "/api/v1/model-versions/rollback",
            {"algorithm": "als", "force": True},
            "non_field_errors",
            "force",
        ),
    ],
)
def test_an_unknown_field_is_a_400_naming_it_and_nothing_is_stored(
    admin, method, path, body, attr, named
):
    ProductFactory(sku="MUG-1", stock=7)
    before = _stored()

    response = _send(admin, method, path, body)

    assert response.status_code == 400
    error = _error(response)
    assert error["attr"] == attr and error["code"] == "unknown_field"
    assert named in error["detail"]
    assert _stored() == before
    assert Product.objects.get(sku="MUG-1").stock == 7


@pytest.mark.parametrize(
    ("body", "field"),
    [({"title": "t", "price": "1", "brand": 5}, "brand"), ({"stock": "5"}, "stock")],
)
def test_a_value_of_the_wrong_json_type_is_a_400_naming_the_field(admin, body, field):
    ProductFactory(sku="MUG-1", stock=7)

    response = _send(admin, "put" if "title" in body else "patch", "/api/v1/products/MUG-1", body)

    assert response.status_code == 400
    assert _error(response)["attr"] == field
    assert Product.objects.get(sku="MUG-1").stock == 7


def test_an_all_spaces_event_id_is_refused_and_not_stored(admin):
    ProductFactory(sku="MUG-1")
    body = {"events": [{"event_id": "   ", "shopper": "s1", "kind": "view", "product": "MUG-1"}]}

    response = _send(admin, "post", "/api/v1/events", body)

    assert response.json()["results"][0] == {
        "index": 0,
        "status": "invalid",
        "errors": {"event_id": ["This field is required."]},
    }
    assert not Event.objects.exists()


def test_an_all_spaces_shopper_id_in_the_path_is_a_400(admin):
    response = _send(admin, "put", "/api/v1/shoppers/%20%20", {"segment": "vip"})

    assert response.status_code == 400
    assert _error(response)["attr"] == "external_id"
    assert not Shopper.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/shoppers/cust-1/recommendations/"),
        ("get", "/api/v1/products/MUG-1/similar/"),
        ("get", "/api/v1/products/MUG-1/"),
        ("get", "/api/v1/products/"),
        ("put", "/api/v1/shoppers/cust-1/"),
        ("post", "/api/v1/events/"),
        ("get", "/api/v1/model-versions/"),
    ],
)
def test_a_trailing_slash_on_any_api_path_is_a_json_404_saying_so(admin, method, path):
    ProductFactory(sku="MUG-1")

    response = admin.generic(method.upper(), path, "{}", content_type="application/json")

    assert response.status_code == 404
    error = _error(response)
    assert error["code"] == "not_found" and "trailing slash" in error["detail"]
    assert not Shopper.objects.exists()
