"""bulk_load_events: the COPY path for bulk builds whose event ids are new by construction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from behavior.bulk_indexes import indexes_rebuilt_after
from behavior.models import Event, Shopper
from behavior.services import EventRow, bulk_load_events
from tests.factories import ProductFactory, ShopperFactory

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _row(event_id: str, shopper: Shopper, product_id: int | None, kind: str = "view") -> EventRow:
    return EventRow(event_id, shopper.pk, product_id, kind, 1.0, "", "s1", "", AT)


@pytest.mark.django_db
def test_bulk_loading_stores_every_row_and_bumps_each_touched_shopper_once():
    product = ProductFactory()
    busy, quiet, idle = ShopperFactory(), ShopperFactory(), ShopperFactory()
    rows = [_row(f"bulk-{i}", busy, product.pk) for i in range(5)]
    rows += [_row("bulk-q", quiet, None, kind="search")]

    loaded = bulk_load_events(rows=iter(rows))

    assert loaded == 6
    stored = sorted(Event.objects.values_list("event_id", "shopper_id", "product_id", "kind"))
    assert stored == sorted((r.event_id, r.shopper_id, r.product_id, r.kind) for r in rows)
    versions = dict(Shopper.objects.values_list("pk", "events_version"))
    assert versions == {busy.pk: 1, quiet.pk: 1, idle.pk: 0}


@pytest.mark.django_db
def test_a_repeated_event_id_fails_the_whole_bulk_load_and_stores_nothing():
    product, shopper = ProductFactory(), ShopperFactory()
    rows = [_row("bulk-1", shopper, product.pk), _row("bulk-1", shopper, product.pk)]

    with pytest.raises(IntegrityError):
        bulk_load_events(rows=rows)

    assert not Event.objects.exists()
    assert Shopper.objects.get(pk=shopper.pk).events_version == 0


def _schema() -> tuple[set, set]:
    """The events table's index definitions and its constraints with their checking modes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'behavior_event'")
        indexes = {d for (d,) in cursor.fetchall()}
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), condeferrable, condeferred, convalidated"
            " FROM pg_constraint WHERE conrelid = 'behavior_event'::regclass"
        )
        return indexes, set(cursor.fetchall())


@pytest.mark.django_db
def test_a_load_bigger_than_the_table_recreates_its_indexes_and_foreign_keys_identically():
    product, shopper = ProductFactory(), ShopperFactory()
    before = _schema()
    assert len(before[0]) >= 8 and any("FOREIGN KEY" in c[1] for c in before[1])

    with transaction.atomic(), indexes_rebuilt_after(table="behavior_event", rows=3) as rebuilt:
        during = _schema()
        loaded = bulk_load_events(rows=[_row(f"bulk-{i}", shopper, product.pk) for i in range(3)])

    assert rebuilt and loaded == 3 and Event.objects.count() == 3
    # Only the primary key and the unique event id stay during the load.
    assert len(during[0]) == 2 and not any("FOREIGN KEY" in c[1] for c in during[1])
    assert _schema() == before


@pytest.mark.django_db
def test_a_rebuilt_foreign_key_still_rejects_an_unknown_product_and_the_load_stores_nothing():
    product, shopper = ProductFactory(), ShopperFactory()
    before = _schema()
    rows = [_row("bulk-1", shopper, product.pk), _row("bulk-2", shopper, product.pk + 999)]

    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_load_events(rows=rows, expected=2)

    assert not Event.objects.exists()
    assert _schema() == before


@pytest.mark.django_db
def test_a_repeated_event_id_fails_a_load_with_rebuilt_indexes_and_leaves_them_in_place():
    product, shopper = ProductFactory(), ShopperFactory()
    before = _schema()
    rows = [_row("bulk-1", shopper, product.pk), _row("bulk-1", shopper, product.pk)]

    with pytest.raises(IntegrityError), transaction.atomic():
        bulk_load_events(rows=rows, expected=2)

    assert not Event.objects.exists()
    assert _schema() == before


@pytest.mark.django_db(transaction=True)
def test_after_a_rebuilt_load_foreign_keys_are_checked_at_commit_again():
    product, shopper = ProductFactory(), ShopperFactory()

    with transaction.atomic():
        bulk_load_events(rows=[_row("bulk-1", shopper, product.pk)], expected=1)
        # A row pointing at a shopper created later in the same transaction: fine when the
        # check waits for the commit, as Django's foreign keys do.
        late = shopper.pk + 1_000
        Event.objects.create(
            event_id="bulk-2", shopper_id=late, kind="search", query="mug", occurred_at=AT
        )
        Shopper.objects.create(pk=late, external_id="late")

    assert Event.objects.count() == 2
