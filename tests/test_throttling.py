"""The API's per-user throttle against the real Redis, and with Redis unreachable."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db

URL = "/api/v1/shoppers/anyone/recommendations"


@pytest.fixture(autouse=True)
def three_per_minute(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "rate", "3/min", raising=False)
    # Ten seconds into a window, so the test never straddles two.
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: 60.0 * 28_000_000 + 10)


def client_for(username: str) -> APIClient:
    user = get_user_model().objects.create_user(username=username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_user_over_the_rate_gets_429_with_retry_after_and_others_are_unaffected():
    busy, other = client_for("busy"), client_for("other")

    statuses = [busy.get(URL).status_code for _ in range(4)]
    refused = busy.get(URL)

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"
    assert other.get(URL).status_code == 200


def test_with_redis_unreachable_requests_are_let_through():
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    client = client_for("busy")

    with override_settings(CACHES=caches):
        statuses = [client.get(URL).status_code for _ in range(5)]

    assert statuses == [200] * 5
