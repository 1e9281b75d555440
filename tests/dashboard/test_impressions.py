"""The impression log the API writes and the dashboard reads."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.cache import cache
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from recommender.impressions import (
    flush_impressions,
    impressions_last_day,
    impressions_of,
    record_impressions,
)


def test_each_recommendations_response_counts_one_impression_per_product_shown(shop, staff_user):
    api = APIClient()
    api.force_authenticate(staff_user)

    body = api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4}).json()
    api.get("/api/v1/shoppers/s-1/recommendations", {"k": 4})

    shown = {item["product"]["sku"] for item in body["results"]}
    counts = impressions_last_day(now=timezone.now())
    by_sku = {p.sku: counts.get(p.pk, 0) for p in shop["products"]}
    assert {sku for sku, n in by_sku.items() if n} == shown
    assert all(by_sku[sku] == 2 for sku in shown)


def test_a_product_page_list_counts_as_impressions_too(shop, staff_user):
    api = APIClient()
    api.force_authenticate(staff_user)

    body = api.get("/api/v1/products/MUG-1/similar", {"k": 3}).json()

    pk = next(p.pk for p in shop["products"] if p.sku == body["results"][0]["product"]["sku"])
    assert impressions_of(product_id=pk, now=timezone.now()) == 1


def test_impressions_older_than_a_day_are_not_counted(db):
    now = timezone.now()

    record_impressions(product_ids=[7], now=now - timedelta(hours=25))
    record_impressions(product_ids=[7, 7], now=now - timedelta(hours=23))

    assert impressions_last_day(now=now) == {7: 2}
    assert impressions_of(product_id=7, now=now) == 2


def test_with_redis_unreachable_impressions_are_dropped_and_read_as_zero(db, settings):
    # Changing CACHES resets Django's cache handler; the settings fixture restores it after.
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    now = timezone.now()

    record_impressions(product_ids=[1, 2], now=now)

    assert impressions_last_day(now=now) == {}
    assert impressions_of(product_id=1, now=now) == 0


def test_counts_are_gathered_in_the_process_and_written_once_per_interval(db, settings):
    settings.SHELFWISE_IMPRESSIONS_FLUSH_SECONDS = 3600
    now = timezone.now()
    client = get_redis_connection("default")
    key = cache.make_key(f"impressions:{now:%Y%m%d%H}")

    for _ in range(50):
        record_impressions(product_ids=[3, 4, 3], now=now)

    assert client.hgetall(key) == {}  # nothing written yet: no round trip per response
    flush_impressions()
    assert client.hgetall(key) == {b"3": b"100", b"4": b"50"}
    assert 0 < client.ttl(key) <= 26 * 3600


def test_counts_are_written_as_soon_as_the_interval_has_passed(db, settings):
    settings.SHELFWISE_IMPRESSIONS_FLUSH_SECONDS = 0
    now = timezone.now()

    record_impressions(product_ids=[5], now=now)

    stored = get_redis_connection("default").hgetall(cache.make_key(f"impressions:{now:%Y%m%d%H}"))
    assert stored == {b"5": b"1"}


def test_a_read_in_the_same_process_sees_counts_not_yet_written(db, settings):
    settings.SHELFWISE_IMPRESSIONS_FLUSH_SECONDS = 3600
    now = timezone.now()

    record_impressions(product_ids=[8, 8, 9], now=now)

    assert impressions_last_day(now=now) == {8: 2, 9: 1}
    record_impressions(product_ids=[8], now=now)
    assert impressions_of(product_id=8, now=now) == 3


def test_a_process_that_exits_normally_writes_its_pending_counts(db):
    at = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    script = (
        "import django; django.setup()\n"
        "from datetime import UTC, datetime\n"
        "from recommender.impressions import record_impressions\n"
        "record_impressions(product_ids=[11, 11, 12], now=datetime(2026, 11, 27, 15, 30, "
        "tzinfo=UTC))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "SHELFWISE_IMPRESSIONS_FLUSH_SECONDS": "3600",  # only the exit can write them
    }

    subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        check=True,
        timeout=60,
    )

    assert impressions_last_day(now=at) == {11: 2, 12: 1}
