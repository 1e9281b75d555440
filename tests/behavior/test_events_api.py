"""POST /api/v1/events and PUT /api/v1/shoppers/{id} through the HTTP API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from behavior.models import Event, Shopper
from tests.conftest import api_client
from tests.factories import CategoryFactory, ProductFactory, ShopperFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


@pytest.fixture
def shop_client() -> APIClient:
    return api_client()


def _event(n: int, sku: str, **extra) -> dict:
    return {
        "event_id": f"e-{n}",
        "shopper": "alice",
        "product": sku,
        "kind": "view",
        "occurred_at": "2024-05-01T12:00:00Z",
        **extra,
    }


def test_a_batch_is_stored_and_each_event_gets_its_status_by_index(shop_client):
    product = ProductFactory()
    batch = [_event(1, product.sku), _event(2, "NO-SUCH-SKU"), _event(3, product.sku, kind="x")]

    response = shop_client.post(URL, {"events": batch}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["stored", "invalid", "invalid"]
    assert "product" in body["results"][1]["errors"]
    assert "kind" in body["results"][2]["errors"]
    assert body["stored"] == 1 and body["invalid"] == 2 and body["shoppers_created"] == 1
    assert Event.objects.count() == 1
    assert Shopper.objects.filter(external_id="alice").exists()


def test_a_retried_batch_stores_nothing_twice(shop_client):
    product = ProductFactory()
    batch = [_event(n, product.sku) for n in range(5)]
    shop_client.post(URL, {"events": batch}, format="json")

    response = shop_client.post(URL, {"events": batch}, format="json")

    assert response.json()["duplicates"] == 5
    assert Event.objects.count() == 5


def test_more_than_a_thousand_events_answer_413_in_the_error_shape(shop_client):
    product = ProductFactory()
    batch = [_event(n, product.sku) for n in range(1001)]

    response = shop_client.post(URL, {"events": batch}, format="json")

    assert response.status_code == 413
    assert response.json()["type"] == "client_error"
    assert response.json()["errors"][0]["code"] == "too_large"
    assert Event.objects.count() == 0


def test_an_event_with_a_nul_character_is_invalid_and_the_others_are_stored(shop_client):
    product = ProductFactory()
    batch = [_event(1, product.sku, session_id="a\x00b"), _event(2, product.sku)]

    response = shop_client.post(URL, {"events": batch}, format="json")

    assert [r["status"] for r in response.json()["results"]] == ["invalid", "stored"]


def test_a_body_without_an_events_list_is_a_400_naming_the_field(shop_client):
    response = shop_client.post(URL, {"event": []}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "events"


def test_events_need_an_api_token_or_staff(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="pw-12345678")
    client.force_login(user)

    response = client.post(URL, {"events": []}, content_type="application/json")

    assert response.status_code == 403


def test_anonymous_callers_get_401():
    response = APIClient().post(URL, {"events": []}, format="json")

    assert response.status_code == 401


def test_put_shopper_creates_then_updates_the_profile(shop_client):
    kitchen = CategoryFactory(slug="kitchen")

    created = shop_client.put(
        "/api/v1/shoppers/bob",
        {"country": "de", "points_balance": 1200, "interests": ["kitchen"]},
        format="json",
    )
    updated = shop_client.put("/api/v1/shoppers/bob", {"points_balance": 50}, format="json")

    assert created.status_code == 201 and updated.status_code == 200
    bob = Shopper.objects.get(external_id="bob")
    assert (bob.country, bob.points_balance) == ("DE", 50)
    assert created.json()["country"] == "DE" and created.json()["country_name"] == "Germany"
    assert list(bob.interests.all()) == [kitchen]


def test_put_shopper_with_an_unknown_interest_is_a_400_and_changes_nothing(shop_client):
    ShopperFactory(external_id="carol", points_balance=10)

    response = shop_client.put(
        "/api/v1/shoppers/carol", {"points_balance": 99, "interests": ["nope"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "interests"
    assert Shopper.objects.get(external_id="carol").points_balance == 10


def test_unknown_api_paths_answer_json_404(shop_client):
    response = shop_client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "not_found"


def test_an_event_dated_year_one_is_invalid_and_its_shopper_still_gets_recommendations(
    shop_client,
):
    product = ProductFactory()
    batch = [
        _event(1, product.sku, occurred_at="0001-01-01T00:30:00+01:00"),
        _event(2, product.sku),
    ]

    response = shop_client.post(URL, {"events": batch}, format="json")
    recommendations = shop_client.get("/api/v1/shoppers/alice/recommendations")

    assert response.json()["results"] == [
        {
            "index": 0,
            "status": "invalid",
            "errors": {
                "occurred_at": ["Is before 1970-01-01T00:00:00+00:00, the earliest accepted."]
            },
        },
        {"index": 1, "status": "stored"},
    ]
    assert list(Event.objects.values_list("event_id", flat=True)) == ["e-2"]
    assert recommendations.status_code == 200
