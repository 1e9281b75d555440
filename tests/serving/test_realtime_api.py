"""The issue's real-time test, end to end over HTTP with real PostgreSQL and Redis.

Transactional: events reach Redis in ``on_commit`` callbacks, which only run on real commits.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.serving.conftest import PER_GROUP

pytestmark = pytest.mark.django_db(transaction=True)


def _get(api, shopper: str, **params) -> dict:
    response = api.get(f"/api/v1/shoppers/{shopper}/recommendations", params)
    assert response.status_code == 200, response.content
    return response.json()


def _view(api, shopper: str, skus: list[str], kind: str = "view", start: int = 0) -> None:
    events = [
        {
            "event_id": f"{shopper}-{kind}-{start + n}",
            "shopper": shopper,
            "product": sku,
            "kind": kind,
            "occurred_at": timezone.now().isoformat(),
        }
        for n, sku in enumerate(skus)
    ]
    response = api.post("/api/v1/events", {"events": events}, format="json")
    assert response.json()["stored"] == len(skus)


def test_a_click_changes_the_next_response_and_a_purchase_removes_the_product(api, trained_shop):
    plates = [p.sku for p in trained_shop["products"][PER_GROUP : 2 * PER_GROUP]]
    cold = _get(api, "newcomer", k=6)

    _view(api, "newcomer", plates[:3])
    warm = _get(api, "newcomer", k=6)

    assert cold["shopper"]["known"] is False
    assert "item_knn@" not in " ".join(cold["sources"])
    assert [r["product"]["sku"] for r in warm["results"]] != [
        r["product"]["sku"] for r in cold["results"]
    ]
    from_model = [r for r in warm["results"] if r["source"].startswith("item_knn@")]
    neighbours = [r for r in from_model if r["product"]["sku"] in plates[3:]]
    assert len(neighbours) >= len(warm["results"]) / 2
    viewed_titles = {p.title for p in trained_shop["products"][PER_GROUP : PER_GROUP + 3]}
    assert any(
        r["reason"]["code"] == "because_you_view"
        and any(t in r["reason"]["text"] for t in viewed_titles)
        for r in warm["results"]
    )

    bought = warm["results"][0]["product"]["sku"]
    _view(api, "newcomer", [bought], kind="purchase")
    after = _get(api, "newcomer", k=6)

    assert bought not in {r["product"]["sku"] for r in after["results"]}


def test_repeated_requests_are_served_from_the_cache_until_an_event_arrives(api, trained_shop):
    plates = [p.sku for p in trained_shop["products"][PER_GROUP : 2 * PER_GROUP]]
    _view(api, "s-1", plates[:1])
    first = _get(api, "s-1")

    second = _get(api, "s-1")
    _view(api, "s-1", plates[1:2], start=10)
    third = _get(api, "s-1")

    assert (first["cached"], second["cached"], third["cached"]) == (False, True, False)
