"""ingest_events against real PostgreSQL: validation, dedupe, shopper creation, atomicity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from behavior.models import Event, EventKind, Shopper
from behavior.services import ingest_events
from tests.factories import EventFactory, ProductFactory, ShopperFactory

pytestmark = pytest.mark.django_db

AT = "2024-05-01T12:00:00Z"


def event(event_id: str, **fields) -> dict:
    return {
        "event_id": event_id,
        "shopper": "cust-1",
        "product": "SKU-A",
        "kind": "view",
        "occurred_at": AT,
        **fields,
    }


@pytest.fixture
def product():
    return ProductFactory(sku="SKU-A")


def test_it_stores_a_valid_batch_and_creates_the_unknown_shopper(product):
    batch = [event("e1"), event("e2", kind="purchase", value=3, order_id="o-9")]

    result = ingest_events(events=batch)

    assert result.statuses == ["stored", "stored"]
    assert (result.stored, result.duplicates, result.invalid) == (2, 0, 0)
    assert result.shoppers_created == 1
    shopper = Shopper.objects.get(external_id="cust-1")
    purchase = Event.objects.get(event_id="e2")
    assert purchase.shopper == shopper
    assert purchase.product == product
    assert (purchase.kind, purchase.value, purchase.order_id) == ("purchase", 3.0, "o-9")
    assert purchase.occurred_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_it_reports_events_already_stored_as_duplicates_and_stores_nothing_twice(product):
    ingest_events(events=[event("e1")])

    result = ingest_events(events=[event("e1"), event("e2")])

    assert result.statuses == ["duplicate", "stored"]
    assert Event.objects.filter(event_id="e1").count() == 1
    assert Event.objects.count() == 2


def test_the_first_of_two_equal_event_ids_in_one_batch_wins(product):
    batch = [event("e1", kind="view"), event("e1", kind="add_to_cart")]

    result = ingest_events(events=batch)

    assert result.statuses == ["stored", "duplicate"]
    assert Event.objects.get(event_id="e1").kind == EventKind.VIEW


def test_invalid_events_are_reported_by_index_and_field_while_valid_ones_are_stored(product):
    batch = [
        event("ok-1"),
        event("bad-kind", kind="like"),
        event("bad-rating", kind="rating", value=6),
        event("negative", value=-1),
        event("no-product", product=None),
        {"shopper": "cust-1", "kind": "view", "product": "SKU-A"},
        "not an object",
        event("x" * 129),
        event("ok-2", kind="search", product=None, query="lanterns"),
    ]

    result = ingest_events(events=batch)

    assert result.statuses == ["stored", *["invalid"] * 7, "stored"]
    assert set(result.errors) == {1, 2, 3, 4, 5, 6, 7}
    assert "kind" in result.errors[1]
    assert "value" in result.errors[2]
    assert "value" in result.errors[3]
    assert "product" in result.errors[4]
    assert result.errors[5] == {"event_id": ["This field is required."]}
    assert "non_field_errors" in result.errors[6]
    assert "event_id" in result.errors[7]
    assert set(Event.objects.values_list("event_id", flat=True)) == {"ok-1", "ok-2"}


def test_an_unknown_product_sku_makes_the_event_invalid_and_creates_no_shopper(product):
    batch = [event("e1", product="NOPE", shopper="someone-new")]

    result = ingest_events(events=batch)

    assert result.statuses == ["invalid"]
    assert result.errors[0] == {"product": ["Unknown product sku 'NOPE'."]}
    assert not Shopper.objects.filter(external_id="someone-new").exists()


def test_a_naive_datetime_is_rejected_with_a_clear_reason(product):
    result = ingest_events(events=[event("e1", occurred_at="2024-05-01T12:00:00")])

    assert result.statuses == ["invalid"]
    assert result.errors[0]["occurred_at"] == [
        "Needs a time zone, e.g. 2024-05-01T12:00:00Z or +01:00."
    ]
    assert Event.objects.count() == 0


def test_a_time_more_than_a_day_ahead_is_rejected_but_an_aware_datetime_object_is_fine(product):
    ahead = timezone.now() + timedelta(days=2)
    batch = [
        event("future", occurred_at=ahead.isoformat()),
        event("now", occurred_at=ahead - timedelta(days=1, minutes=1)),
    ]

    result = ingest_events(events=batch)

    assert result.statuses == ["invalid", "stored"]
    assert result.errors[0] == {"occurred_at": ["Is more than a day in the future."]}


def test_a_time_before_1970_is_rejected_so_no_year_bc_reaches_the_database(product):
    batch = [
        event("year-one", occurred_at="0001-01-01T00:30:00+01:00"),  # 1 BC in UTC
        event("just-before", occurred_at="1970-01-01T00:30:00+01:00"),  # 1969-12-31T23:30Z
        event("as-object", occurred_at=datetime(1969, 12, 31, 23, 59, tzinfo=UTC)),
        event("the-floor", occurred_at="1970-01-01T00:00:00Z"),
    ]

    result = ingest_events(events=batch)

    assert result.statuses == ["invalid", "invalid", "invalid", "stored"]
    reason = "Is before 1970-01-01T00:00:00+00:00, the earliest accepted."
    assert [result.errors[i] for i in range(3)] == [{"occurred_at": [reason]}] * 3
    assert list(Event.objects.values_list("event_id", flat=True)) == ["the-floor"]


def test_unknown_shoppers_are_invalid_when_creating_them_is_not_allowed(product):
    ShopperFactory(external_id="known")
    batch = [event("e1", shopper="known"), event("e2", shopper="stranger")]

    result = ingest_events(events=batch, create_unknown_shoppers=False)

    assert result.statuses == ["stored", "invalid"]
    assert result.errors[1] == {"shopper": ["Unknown shopper 'stranger'."]}
    assert not Shopper.objects.filter(external_id="stranger").exists()


def test_a_batch_that_fails_in_the_database_leaves_nothing_behind(product):
    with connection.cursor() as cursor:
        # Make the insert fail after the shopper was created in the same transaction.
        cursor.execute(
            "ALTER TABLE behavior_event ADD CONSTRAINT test_no_boom CHECK (event_id <> 'boom')"
        )
    EventFactory(event_id="before")
    batch = [event("e1", shopper="brand-new"), event("boom", shopper="brand-new")]

    with pytest.raises(Exception, match="test_no_boom"):
        ingest_events(events=batch)

    assert not Shopper.objects.filter(external_id="brand-new").exists()
    assert list(Event.objects.values_list("event_id", flat=True)) == ["before"]


def test_numeric_shopper_ids_and_csv_style_strings_are_accepted(product):
    batch = [event("e1", shopper=12345, value="2.5", kind="add_to_cart", session_id=None)]

    result = ingest_events(events=batch)

    assert result.statuses == ["stored"]
    stored = Event.objects.get(event_id="e1")
    assert (stored.shopper.external_id, stored.value, stored.session_id) == ("12345", 2.5, "")


REC_ID = "01a25023-7c15-7d4f-b3ea-e9b5a337ff7d"


def test_it_stores_the_recommendation_a_view_cart_or_purchase_followed(product):
    batch = [
        event("e1", recommendation_id=REC_ID, position=3),
        event("e2", kind="add_to_cart", recommendation_id=REC_ID.upper()),
        event("e3", kind="purchase", value=2, recommendation_id=REC_ID, position=1),
        event("e4"),
    ]

    result = ingest_events(events=batch)

    assert result.statuses == ["stored"] * 4
    stored = dict(Event.objects.values_list("event_id", "recommendation_id"))
    assert {k: str(v) if v else v for k, v in stored.items()} == {
        "e1": REC_ID,
        "e2": REC_ID,
        "e3": REC_ID,
        "e4": None,
    }
    assert Event.objects.get(event_id="e1").position == 3
    assert Event.objects.get(event_id="e2").position is None


def test_it_accepts_an_id_it_never_served(product):
    foreign = "123e4567-e89b-12d3-a456-426614174000"  # a UUID1 from somewhere else

    result = ingest_events(events=[event("e1", recommendation_id=foreign)])

    assert result.statuses == ["stored"]
    assert str(Event.objects.get().recommendation_id) == foreign


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"recommendation_id": "not-an-id"}, "recommendation_id", "Not a recommendation id"),
        ({"recommendation_id": "{" + REC_ID + "}"}, "recommendation_id", "Not a recommendation"),
        ({"recommendation_id": 12}, "recommendation_id", "Not a recommendation id"),
        ({"position": 2}, "recommendation_id", "Required when a position is given"),
        ({"recommendation_id": REC_ID, "position": 0}, "position", "between 1 and 100"),
        ({"recommendation_id": REC_ID, "position": 101}, "position", "between 1 and 100"),
        ({"recommendation_id": REC_ID, "position": "2"}, "position", "whole number"),
        ({"recommendation_id": REC_ID, "position": True}, "position", "whole number"),
        (
            {"kind": "rating", "value": 4, "recommendation_id": REC_ID},
            "recommendation_id",
            "a rating does not",
        ),
    ],
)
def test_it_names_the_field_of_a_bad_recommendation_reference(product, fields, field, fragment):
    result = ingest_events(events=[event("e1", **fields), event("e2")])

    assert result.statuses == ["invalid", "stored"]
    assert fragment in " ".join(result.errors[0][field])
