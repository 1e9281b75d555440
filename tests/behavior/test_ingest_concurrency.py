"""Concurrent event batches against real PostgreSQL: overlapping new shoppers never deadlock."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from behavior.models import Event, Shopper
from behavior.services import ingest_events, upsert_shoppers
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 30
SHARED = 300  # new shoppers both batches of a round create


def batch(round_: int, name: str, shoppers: list[str]) -> list[dict]:
    return [
        {
            "event_id": f"{name}-{round_}-{shopper}",
            "shopper": shopper,
            "product": "SKU-A",
            "kind": "view",
            "occurred_at": "2024-05-01T12:00:00Z",
        }
        for shopper in shoppers
    ]


def run_concurrently(*calls) -> list[BaseException]:
    """Each call in its own thread (so its own connection and transaction), started together."""
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def worker(call) -> None:
        try:
            barrier.wait()
            call()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_concurrent_batches_creating_the_same_new_shoppers_in_opposite_orders_all_store():
    ProductFactory(sku="SKU-A")
    failures: list[BaseException] = []
    expected = 0

    for round_ in range(ROUNDS):
        shared = [f"s{round_}-{i:04d}" for i in range(SHARED)]
        # Different sizes and opposite orders: each batch meets the shared shoppers in a
        # different order unless the service imposes one.
        ascending = shared + [f"a{round_}-{i}" for i in range(round_ * 7)]
        descending = shared[::-1] + [f"d{round_}-{i}" for i in range(500 - round_ * 11)]
        failures += run_concurrently(
            lambda r=round_, s=ascending: ingest_events(events=batch(r, "asc", s)),
            lambda r=round_, s=descending: ingest_events(events=batch(r, "desc", s)),
        )
        expected += len(ascending) + len(descending)

    assert failures == []
    assert Event.objects.count() == expected
    assert Shopper.objects.count() == expected - ROUNDS * SHARED


def test_concurrent_imports_upserting_the_same_shoppers_in_opposite_orders_all_store():
    failures: list[BaseException] = []

    for round_ in range(ROUNDS):
        shared = [f"s{round_}-{i:04d}" for i in range(SHARED)]
        forward = {external_id: "GB" for external_id in shared}
        backward = {external_id: "FR" for external_id in reversed(shared)}
        failures += run_concurrently(
            lambda countries=forward: upsert_shoppers(countries=countries),
            lambda countries=backward: upsert_shoppers(countries=countries),
        )

    assert failures == []
    assert Shopper.objects.count() == ROUNDS * SHARED


def test_concurrent_batches_resending_the_same_events_in_opposite_orders_all_answer():
    ProductFactory(sku="SKU-A")
    failures: list[BaseException] = []
    stored: list[int] = []

    for round_ in range(ROUNDS):
        # Shoppers exist already: only the events' unique ids are contended.
        shoppers = [f"r{round_}-{i:04d}" for i in range(SHARED)]
        ingest_events(events=batch(round_, "seed", shoppers))
        events = batch(round_, "same", shoppers)
        failures += run_concurrently(
            lambda e=events: stored.append(ingest_events(events=e).stored),
            lambda e=events[::-1]: stored.append(ingest_events(events=e).stored),
        )

    assert failures == []
    assert sum(stored) == ROUNDS * SHARED  # each event stored by exactly one of the two
    assert Event.objects.filter(event_id__startswith="same-").count() == ROUNDS * SHARED
