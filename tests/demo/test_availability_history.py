"""The demo records when each product it makes unavailable stopped being on sale: after anyone
last touched it and before the build's ``now``, so a replay's cut finds it on sale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Max

from behavior.models import Event
from catalog.availability import states_at
from catalog.models import Product, ProductAvailabilityChange
from demo import services
from tests.factories import EventFactory, ProductFactory, ShopperFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_each_unavailable_demo_product_went_off_sale_after_its_last_event_and_before_now():
    services.build_demo_shop(seed=11, now=NOW, scale=0.05, vertical="fashion")
    unavailable = set(
        Product.objects.exclude(is_active=True, stock__isnull=True)
        .exclude(is_active=True, stock__gt=0)
        .values_list("pk", flat=True)
    )
    last_event = dict(
        Event.objects.filter(product__in=unavailable)
        .values_list("product")
        .annotate(last=Max("occurred_at"))
    )
    changes = {
        c.product_id: c
        for c in ProductAvailabilityChange.objects.select_related("product").order_by("id")
    }

    assert unavailable and last_event  # some were bought before they went
    assert set(changes) == unavailable
    assert ProductAvailabilityChange.objects.count() == len(unavailable)
    for pk, change in changes.items():
        assert (change.was_active, change.was_in_stock) == (True, True)
        assert (change.is_active, change.in_stock) == (
            change.product.is_active,
            change.product.stock != 0,
        )
        assert last_event.get(pk, change.product.created_at) < change.changed_at < NOW
    # Before the first of those changes, every one of them was on sale.
    before_first = min(c.changed_at for c in changes.values()) - timedelta(seconds=1)
    assert states_at(at=before_first) == dict.fromkeys(unavailable, (True, True))


def test_the_same_seed_records_the_same_history():
    services.build_demo_shop(seed=11, now=NOW, scale=0.05)
    first = list(ProductAvailabilityChange.objects.values_list("product__sku", "changed_at"))
    services.reset_demo_data()
    services.build_demo_shop(seed=11, now=NOW, scale=0.05)

    again = list(ProductAvailabilityChange.objects.values_list("product__sku", "changed_at"))

    assert sorted(again) == sorted(first)


def test_dressing_an_imported_shop_sells_out_at_its_time_and_reset_restocks_on_record():
    products = [ProductFactory(price=Decimal("4.50"), stock=None) for _ in range(60)]
    EventFactory(shopper=ShopperFactory(), product=products[0], event_id="online-retail-1")

    services.dress_imported_shop(seed=4, now=NOW)
    sold_out = set(Product.objects.filter(stock=0).values_list("pk", flat=True))
    dressed = list(ProductAvailabilityChange.objects.values_list("product", "changed_at"))
    services.reset_demo_data()

    assert sold_out
    assert sorted(dressed) == sorted((pk, NOW) for pk in sold_out)
    restocked = ProductAvailabilityChange.objects.filter(in_stock=True, was_in_stock=False)
    assert set(restocked.values_list("product", flat=True)) == sold_out
