"""bulk_load_events: the COPY path for bulk builds whose event ids are new by construction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError

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
