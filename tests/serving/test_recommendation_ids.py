"""Every served response carries its own recommendation id, and each item its position."""

from __future__ import annotations

import uuid

import pytest

from recommender.models import Impression
from recommender.proof.drain import drain_impressions

pytestmark = pytest.mark.django_db


def test_a_slot_response_carries_a_uuid7_id_and_positions_from_one(api, trained_shop):
    body = api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4}).json()

    assert uuid.UUID(body["recommendation_id"]).version == 7
    assert [item["position"] for item in body["results"]] == [1, 2, 3, 4]


def test_a_cached_response_served_again_gets_a_fresh_id(api, trained_shop):
    first = api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4}).json()
    again = api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4}).json()

    assert again["cached"] is True
    assert again["results"] == first["results"]
    assert again["recommendation_id"] != first["recommendation_id"]


@pytest.mark.parametrize("path", ["similar", "bought-together"])
def test_product_page_lists_carry_an_id_and_positions(api, trained_shop, path):
    body = api.get(f"/api/v1/products/MUG-1/{path}", {"k": 3}).json()

    assert uuid.UUID(body["recommendation_id"]).version == 7
    assert [item["position"] for item in body["results"]] == list(range(1, body["count"] + 1))


def test_each_served_response_becomes_one_impression_row_once_drained(api, trained_shop):
    first = api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4}).json()
    again = api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4}).json()
    similar = api.get("/api/v1/products/MUG-1/similar", {"k": 3}).json()
    assert not Impression.objects.exists()  # the request wrote nothing to the database

    drain_impressions()

    rows = {str(row.pk): row for row in Impression.objects.all()}
    assert set(rows) == {b["recommendation_id"] for b in (first, again, similar)}
    shown = rows[first["recommendation_id"]]
    assert (shown.placement, shown.shopper, shown.product) == ("for_you", "s-1", "")
    skus = [item["product"]["sku"] for item in first["results"]]
    by_pk = {p.pk: p.sku for p in trained_shop["products"]}
    assert [by_pk[pk] for pk in shown.items] == skus
    assert rows[similar["recommendation_id"]].placement == "similar"
    assert rows[similar["recommendation_id"]].product == "MUG-1"


def test_an_empty_list_carries_an_id_but_is_no_impression(api, trained_shop):
    body = api.get("/api/v1/shoppers/nobody-yet/recommendations", {"slot": "buy_again"}).json()

    drain_impressions()

    assert body["count"] == 0 and body["recommendation_id"]
    assert not Impression.objects.exists()
