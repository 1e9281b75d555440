"""Redis really unreachable: recommendations are computed uncached, never a 5xx."""

from __future__ import annotations

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused


@pytest.fixture
def redis_down(settings):
    # Changing CACHES resets Django's cache handler (setting_changed), so every later cache
    # call connects to the dead port; the settings fixture restores the real Redis afterwards.
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    assert caches["default"].get("anything") is None  # fails open, does not raise


def test_recommendations_answer_200_with_redis_unreachable(api, trained_shop, redis_down):
    api.post(
        "/api/v1/events",
        {"events": [{"event_id": "x1", "shopper": "s-2", "product": "MUG-1", "kind": "view"}]},
        format="json",
    )

    response = api.get("/api/v1/shoppers/s-2/recommendations", {"k": 5})
    again = api.get("/api/v1/shoppers/s-2/recommendations", {"k": 5})

    assert response.status_code == 200 and again.status_code == 200
    assert response.json()["count"] == 5
    assert again.json()["cached"] is False
