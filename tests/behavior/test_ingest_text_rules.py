"""ingest_events rejects values PostgreSQL cannot store, by field, and stores the rest."""

from __future__ import annotations

import pytest

from behavior.models import Event, Shopper
from behavior.services import ingest_events
from tests.factories import ProductFactory, ShopperFactory

pytestmark = pytest.mark.django_db


def event(name: str, **fields) -> dict:
    return {
        "event_id": name,
        "shopper": "cust-1",
        "product": "SKU-A",
        "kind": "view",
        "occurred_at": "2024-05-01T12:00:00Z",
        **fields,
    }


@pytest.fixture
def product():
    return ProductFactory(sku="SKU-A")


@pytest.mark.parametrize("kind", [{}, [], ["view"], 3, None])
def test_a_kind_that_is_not_text_is_invalid_with_a_kind_error(product, kind):
    result = ingest_events(events=[event("bad", kind=kind), event("ok")])

    assert result.statuses == ["invalid", "stored"]
    assert list(result.errors[0]) == ["kind"]
    assert "Must be one of" in result.errors[0]["kind"][0]


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("session_id", "a\x00b"),
        ("order_id", "\x00"),
        ("query", "lan\x00terns"),
        ("event_id", "e-\ud800"),
        ("shopper", "cust-\udfff"),
        ("product", "SKU-\ud83d"),
    ],
)
def test_nul_and_lone_surrogates_make_that_field_invalid_and_nothing_of_it_is_stored(
    product, field, text
):
    result = ingest_events(events=[event("bad", **{field: text}), event("ok")])

    assert result.statuses == ["invalid", "stored"]
    assert result.errors[0] == {
        field: ["No NUL characters or lone surrogates: PostgreSQL cannot store them."]
    }
    assert list(Event.objects.values_list("event_id", flat=True)) == ["ok"]


def test_text_beyond_ascii_that_postgresql_can_store_is_kept_as_sent(product):
    result = ingest_events(
        events=[event("e-ü", shopper="kundin-ß", kind="search", product=None, query="tasse 🍵")]
    )

    assert result.statuses == ["stored"]
    assert Event.objects.get().query == "tasse 🍵"
    assert Shopper.objects.get().external_id == "kundin-ß"


def test_one_batch_creates_each_new_shopper_once_and_reuses_existing_ones(product):
    existing = ShopperFactory(external_id="known")
    batch = [
        event("e1", shopper="known"),
        event("e2", shopper="new-1"),
        event("e3", shopper="new-1"),
        event("e4", shopper="new-2"),
    ]

    result = ingest_events(events=batch)

    assert result.statuses == ["stored"] * 4
    assert result.shoppers_created == 2
    assert Shopper.objects.count() == 3
    assert Event.objects.get(event_id="e1").shopper_id == existing.pk
    shopper_of = dict(Event.objects.values_list("event_id", "shopper_id"))
    assert shopper_of["e2"] == shopper_of["e3"] != shopper_of["e4"]
