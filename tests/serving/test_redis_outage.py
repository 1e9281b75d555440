"""Events stored while Redis stalls or is down reach the next response once it is back.

On a private redis-server (tests/redis_server.py): the shared one cannot be stopped. Transactional:
the Redis update runs after the commit, as in production.
"""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from behavior.models import Shopper
from tests.serving.conftest import PER_GROUP

pytestmark = pytest.mark.django_db(transaction=True)

# The cache's socket timeouts are 0.25 s: a request touching a frozen Redis a few times (the
# throttle, the after-commit update) must still answer in well under a few seconds.
PROMPT_SECONDS = 3.0


@pytest.fixture
def outage_redis(private_redis, settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": private_redis.url(1)}}
    return private_redis


def _get(api, shopper: str) -> dict:
    response = api.get(f"/api/v1/shoppers/{shopper}/recommendations", {"k": 6})
    assert response.status_code == 200, response.content
    return response.json()


def _post(api, shopper: str, sku: str, kind: str, event_id: str) -> float:
    started = time.monotonic()
    event = {"event_id": event_id, "shopper": shopper, "product": sku, "kind": kind}
    response = api.post(
        "/api/v1/events",
        {"events": [{**event, "occurred_at": timezone.now().isoformat()}]},
        format="json",
    )
    assert response.json()["stored"] == 1, response.content
    return time.monotonic() - started


def _warm(api, trained_shop) -> str:
    """A shopper with a cached response; returns the product it recommends first."""
    plates = [p.sku for p in trained_shop["products"][PER_GROUP : 2 * PER_GROUP]]
    for n, sku in enumerate(plates[:3]):
        _post(api, "newcomer", sku, "view", f"view-{n}")
    first = _get(api, "newcomer")
    assert _get(api, "newcomer")["cached"] is True
    return first["results"][0]["product"]["sku"]


def test_a_purchase_stored_while_redis_stalls_removes_the_product_once_redis_answers(
    api, trained_shop, outage_redis
):
    bought = _warm(api, trained_shop)
    outage_redis.stall()

    elapsed = _post(api, "newcomer", bought, "purchase", "bought-while-stalled")
    outage_redis.resume()
    after = _get(api, "newcomer")

    assert elapsed < PROMPT_SECONDS
    assert after["cached"] is False
    assert bought not in {r["product"]["sku"] for r in after["results"]}
    assert Shopper.objects.get(external_id="newcomer").events_version == 4


def test_a_purchase_stored_while_redis_is_down_is_not_hidden_by_its_restored_snapshot(
    api, trained_shop, outage_redis
):
    bought = _warm(api, trained_shop)
    outage_redis.save()  # the restart below restores this: the old set and cached response
    outage_redis.stop()

    elapsed = _post(api, "newcomer", bought, "purchase", "bought-while-down")
    outage_redis.start()
    after = _get(api, "newcomer")

    assert elapsed < PROMPT_SECONDS
    assert after["cached"] is False
    assert bought not in {r["product"]["sku"] for r in after["results"]}
