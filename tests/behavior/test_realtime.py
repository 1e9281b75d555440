"""The per-shopper real-time cache against the real Redis, and with Redis unreachable."""

from __future__ import annotations

import copy
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django_redis import get_redis_connection

from behavior.models import Event, Shopper
from behavior.realtime import (
    recent_events_for,
    record_events,
    shopper_event_version,
    shopper_state,
)
from behavior.selectors import recent_events_from_db
from behavior.services import ingest_events
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

START = datetime(2024, 5, 1, 12, tzinfo=UTC)


def views(*skus: str, shopper: str = "cust-1", first_id: int = 0) -> list[dict]:
    return [
        {
            "event_id": f"{shopper}-{first_id + n}",
            "shopper": shopper,
            "product": sku,
            "kind": "view",
            "occurred_at": (START + timedelta(minutes=first_id + n)).isoformat(),
        }
        for n, sku in enumerate(skus)
    ]


def dead_redis_caches() -> dict:
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    return caches


@pytest.fixture
def products():
    return {sku: ProductFactory(sku=sku) for sku in ("A", "B", "C", "D")}


def shopper_id(external_id: str = "cust-1") -> int:
    return Shopper.objects.get(external_id=external_id).pk


def set_key(shopper: int) -> str:
    """The shopper's set of recent events at their current events version."""
    version = shopper_event_version(shopper_id=shopper)
    return f"shelfwise-test:1:recent-events-at:{shopper}:{version}"


def record(events: list[Event]) -> None:
    """What the after-commit hook does for a batch that stored ``events`` (one shopper)."""
    shopper = events[0].shopper_id
    version = Shopper.objects.get(pk=shopper).events_version
    record_events(events=events, versions={shopper: version})


def test_recent_events_come_newest_first_and_are_then_served_from_redis(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A", "B"))

    first_read = recent_events_for(shopper_id=shopper_id())

    assert [e.product_id for e in first_read] == [products["B"].pk, products["A"].pk]
    cached = get_redis_connection("default").zcard(set_key(shopper_id()))
    assert cached == 2


def test_a_new_event_reaches_the_cached_list_and_bumps_only_that_shoppers_version(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A") + views("A", shopper="other"))
    recent_events_for(shopper_id=shopper_id())  # builds the cached list from PostgreSQL
    version_before = shopper_event_version(shopper_id=shopper_id())
    other_before = shopper_event_version(shopper_id=shopper_id("other"))

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("C", first_id=5))

    recent = recent_events_for(shopper_id=shopper_id())
    assert [e.product_id for e in recent] == [products["C"].pk, products["A"].pk]
    assert recent[0].kind == "view"
    assert recent[0].occurred_at == (START + timedelta(minutes=5)).timestamp()
    assert shopper_event_version(shopper_id=shopper_id()) == version_before + 1
    assert shopper_event_version(shopper_id=shopper_id("other")) == other_before


@override_settings(SHELFWISE_RECENT_EVENTS=3)
def test_the_cached_list_keeps_only_the_configured_number_of_events(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A", "B"))
    recent_events_for(shopper_id=shopper_id())

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("C", "D", first_id=2))

    recent = recent_events_for(shopper_id=shopper_id())
    assert [e.product_id for e in recent] == [products[s].pk for s in ("D", "C", "B")]
    assert get_redis_connection("default").zcard(set_key(shopper_id())) == 3


def test_an_event_stored_as_a_year_bc_by_an_older_version_is_left_out_of_the_recent_list(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A", "B"))
    with connection.cursor() as cursor:
        # What ingestion stored for 0001-01-01T00:30+01:00 before it refused times before 1970.
        cursor.execute(
            "UPDATE behavior_event SET occurred_at = '0001-12-31 23:30:00+00 BC'"
            " WHERE event_id = 'cust-1-0'"
        )

    recent = recent_events_for(shopper_id=shopper_id())

    assert [e.product_id for e in recent] == [products["B"].pk]


@override_settings(SHELFWISE_RECENT_EVENTS=3)
def test_back_dated_events_never_push_the_newest_events_out_of_the_cached_list(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A", "B", "C"))
    recent_events_for(shopper_id=shopper_id())  # builds the cached list from PostgreSQL
    old = [
        {**e, "event_id": f"old-{n}", "occurred_at": "2024-01-01T10:00:00Z"}
        for n, e in enumerate(views(*"DDDDD"))
    ]

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=old + views("D", first_id=10))  # one newer event in the batch

    recent = recent_events_for(shopper_id=shopper_id())
    assert [e.product_id for e in recent] == [products[s].pk for s in ("D", "C", "B")]
    assert recent == recent_events_from_db(shopper_id=shopper_id(), limit=3)


@override_settings(SHELFWISE_RECENT_EVENTS=10)
def test_concurrent_writers_leave_the_newest_events_whatever_order_they_record_in(products):
    ingest_events(events=views("A"))
    recent_events_for(shopper_id=shopper_id())  # the cached list exists from here on
    # 8 writers with 9 events each, recording in an order unrelated to their events' times.
    batches = [views(*"BCD" * 3, first_id=10 * m) for m in random.Random(5).sample(range(1, 40), 8)]
    stored, versions = [], []
    for batch in batches:
        ingest_events(events=batch)  # stored; outside a commit capture Redis is left to below
        stored.append(list(Event.objects.filter(event_id__in=[e["event_id"] for e in batch])))
        versions.append({shopper_id(): shopper_event_version(shopper_id=shopper_id())})

    # Each writer records its committed events as ingest_events does after its commit.
    with ThreadPoolExecutor(max_workers=len(stored)) as pool:
        list(pool.map(lambda e, v: record_events(events=e, versions=v), stored, versions))

    recent = recent_events_for(shopper_id=shopper_id())
    assert recent == recent_events_from_db(shopper_id=shopper_id(), limit=10)
    assert [e.occurred_at for e in recent] == sorted((e.occurred_at for e in recent), reverse=True)


def test_an_event_both_rebuilt_from_postgresql_and_recorded_after_its_commit_is_held_once(
    products,
):
    ingest_events(events=views("A"))
    ingest_events(events=views("B", first_id=1))  # committed, its after-commit update not yet run
    # A reader that saw version 1 before B's commit rebuilds its set after it: B included.
    shopper_state(shopper_id=shopper_id(), version=1)

    record(list(Event.objects.filter(event_id="cust-1-1")))  # the late update moves it to 2

    assert [e.product_id for e in recent_events_for(shopper_id=shopper_id())] == [
        products["B"].pk,
        products["A"].pk,
    ]
    assert get_redis_connection("default").zcard(set_key(shopper_id())) == 2


def test_a_list_in_the_format_before_sorted_sets_is_left_alone_during_a_rolling_deploy(
    products, django_capture_on_commit_callbacks
):
    redis = get_redis_connection("default")
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A"))
    old_key = f"shelfwise-test:1:recent-events:{shopper_id()}"
    redis.rpush(old_key, '[1,"view",1.0,0.0,""]')  # what an old process cached

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("B", first_id=1))
    recent = recent_events_for(shopper_id=shopper_id())

    assert [e.product_id for e in recent] == [products["B"].pk, products["A"].pk]
    assert redis.lrange(old_key, 0, -1) == [b'[1,"view",1.0,0.0,""]']
    assert redis.zcard(set_key(shopper_id())) == 2


def test_a_duplicate_resend_does_not_bump_the_version(products, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A"))
    version = shopper_event_version(shopper_id=shopper_id())

    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_events(events=views("A"))

    assert result.statuses == ["duplicate"]
    assert shopper_event_version(shopper_id=shopper_id()) == version


def test_with_redis_unreachable_ingestion_succeeds_and_reads_fall_back_to_postgresql(
    products, django_capture_on_commit_callbacks
):
    with override_settings(CACHES=dead_redis_caches()):
        with django_capture_on_commit_callbacks(execute=True):
            result = ingest_events(events=views("A", "B"))

        recent = recent_events_for(shopper_id=shopper_id())
        version = shopper_event_version(shopper_id=shopper_id())

    assert result.statuses == ["stored", "stored"]
    assert [e.product_id for e in recent] == [products["B"].pk, products["A"].pk]
    assert version == 1  # PostgreSQL's: it moved with the events, whatever Redis did


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_the_embedded_local_memory_cache_gives_the_same_answers(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A"))
    recent_events_for(shopper_id=shopper_id())

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("B", first_id=1))

    assert [e.product_id for e in recent_events_for(shopper_id=shopper_id())] == [
        products["B"].pk,
        products["A"].pk,
    ]
    assert shopper_event_version(shopper_id=shopper_id()) == 2


@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    SHELFWISE_RECENT_EVENTS=2,
)
def test_the_local_memory_cache_also_keeps_the_newest_events_when_old_ones_arrive_late(
    products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=views("A", "B"))
    recent_events_for(shopper_id=shopper_id())

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(
            events=[{**views("C")[0], "event_id": "late", "occurred_at": "2024-01-01T10:00:00Z"}]
        )

    assert [e.product_id for e in recent_events_for(shopper_id=shopper_id())] == [
        products["B"].pk,
        products["A"].pk,
    ]
