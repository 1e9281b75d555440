"""Every catalog write path records a product's availability change, with its time, and the
catalogue at a past time T is rebuilt from the changes after T (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.availability import AvailabilityChange, record_changes, states_at
from catalog.models import Product, ProductAvailabilityChange
from catalog.services import set_products_active, upsert_products
from tests.catalog.test_admin import csv_upload
from tests.conftest import api_client
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _history(product: Product) -> list[tuple]:
    return list(
        ProductAvailabilityChange.objects.filter(product=product)
        .order_by("changed_at", "id")
        .values_list("was_active", "was_in_stock", "is_active", "in_stock", "changed_at")
    )


@pytest.fixture
def admin_client(client, staff_user):
    staff_user.user_permissions.set(Permission.objects.filter(content_type__app_label="catalog"))
    client.force_login(staff_user)
    return client


def test_an_api_patch_that_sells_a_product_out_records_the_change_at_its_write_time():
    mug = ProductFactory(sku="MUG-1", stock=5)
    api = api_client()

    assert api.patch("/api/v1/products/MUG-1", {"price": "3.00"}, format="json").status_code == 200
    assert _history(mug) == []  # a price change leaves availability alone
    assert api.patch("/api/v1/products/MUG-1", {"stock": 0}, format="json").status_code == 200

    mug.refresh_from_db()
    assert _history(mug) == [(True, True, True, False, mug.updated_at)]


def test_a_bulk_upsert_records_only_the_products_whose_availability_moved():
    kept, off, restocked = (
        ProductFactory(sku="KEPT", stock=2),
        ProductFactory(sku="OFF"),
        ProductFactory(sku="BACK", stock=0),
    )

    response = api_client().post(
        "/api/v1/products/bulk",
        {
            "products": [
                {"sku": "KEPT", "title": "Kept", "price": "1.00", "stock": 1},
                {"sku": "OFF", "title": "Off", "price": "1.00", "is_active": False},
                {"sku": "BACK", "title": "Back", "price": "1.00", "stock": 7},
                {"sku": "NEW", "title": "New", "price": "1.00", "stock": 0},
            ]
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert _history(kept) == []
    assert [h[:4] for h in _history(off)] == [(True, True, False, True)]
    assert [h[:4] for h in _history(restocked)] == [(True, False, True, True)]
    assert not ProductAvailabilityChange.objects.filter(product__sku="NEW").exists()


def test_a_dry_run_upsert_records_nothing():
    mug = ProductFactory(sku="MUG-1", stock=5)

    upsert_products(rows=[{"sku": "MUG-1", "title": "Mug", "price": "1", "stock": 0}], dry_run=True)

    assert _history(mug) == []


def test_switching_products_off_and_on_records_each_change():
    on, already_off = ProductFactory(stock=0), ProductFactory(is_active=False)

    set_products_active(products=Product.objects.all(), active=False)
    set_products_active(products=Product.objects.filter(pk=on.pk), active=True)

    assert [h[:4] for h in _history(on)] == [
        (True, False, False, False),
        (False, False, True, False),
    ]
    assert _history(already_off) == []


def test_the_admin_form_and_its_deactivate_action_record_changes(admin_client):
    mug, plate = ProductFactory(sku="MUG-1", stock=3), ProductFactory(sku="PLATE-1")
    form = reverse("admin:catalog_product_change", args=[mug.pk])
    data = admin_client.get(form).context["adminform"].form.initial
    data = {k: ("" if v is None else v) for k, v in data.items() if k not in ("category",)}
    data.update(stock=0, price="4.00", tags="[]", attributes="{}", is_active="on")

    response = admin_client.post(form, data)
    admin_client.post(
        reverse("admin:catalog_product_changelist"),
        {"action": "deactivate", "_selected_action": [plate.pk]},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    mug.refresh_from_db()
    assert _history(mug) == [(True, True, True, False, mug.updated_at)]
    assert [h[:4] for h in _history(plate)] == [(True, True, False, True)]


def test_a_confirmed_admin_import_records_the_changes_and_its_preview_none(admin_client):
    mug = ProductFactory(sku="MUG-1", title="Mug", stock=4)
    preview = admin_client.post(
        reverse("admin:catalog_product_import"),
        {"format": "0", "import_file": csv_upload("MUG-1,Mug,,,,7.50,GBP,0,true,,")},
    )
    assert _history(mug) == []

    admin_client.post(
        reverse("admin:catalog_product_process_import"),
        preview.context["confirm_form"].initial,
    )

    mug.refresh_from_db()
    assert mug.stock == 0
    assert [h[:4] for h in _history(mug)] == [(True, True, True, False)]


def test_an_admin_import_reads_availability_twice_whatever_its_size(admin_client):
    products = [ProductFactory(sku=f"MUG-{n}", title="Mug", stock=4) for n in range(6)]
    lines = [f"MUG-{n},Mug,,,,7.50,GBP,0,true,," for n in range(6)]
    preview = admin_client.post(
        reverse("admin:catalog_product_import"),
        {"format": "0", "import_file": csv_upload(*lines)},
    )

    with CaptureQueriesContext(connection) as queries:
        admin_client.post(
            reverse("admin:catalog_product_process_import"),
            preview.context["confirm_form"].initial,
        )

    # Before the import and after it, never per row.
    reads = [q["sql"] for q in queries if '"catalog_product"."stock"' in q["sql"].split("FROM")[0]]
    availability_reads = [sql for sql in reads if '"catalog_product"."title"' not in sql]
    assert len(availability_reads) == 2
    for product in products:
        assert [h[:4] for h in _history(product)] == [(True, True, True, False)]


def test_the_state_at_a_time_is_the_last_recorded_before_it_or_else_todays():
    now = timezone.now()
    cut = now - timedelta(days=10)
    sold_after, sold_before, flipped, untouched = (ProductFactory(stock=0) for _ in range(4))

    def change(product, days_ago, was, becomes):
        return AvailabilityChange(product.pk, now - timedelta(days=days_ago), now=becomes, was=was)

    record_changes(
        changes=[
            change(sold_after, 2, (True, True), (True, False)),
            change(sold_before, 20, (True, True), (True, False)),
            # Off before the cut, on and off again after it: off at the cut.
            change(flipped, 15, (True, True), (False, True)),
            change(flipped, 5, (False, True), (True, True)),
            change(flipped, 1, (True, True), (True, False)),
        ]
    )

    states = states_at(at=cut)

    assert states == {sold_after.pk: (True, True), flipped.pk: (False, True)}
    assert sold_before.pk not in states and untouched.pk not in states  # today's state
    assert states_at(at=now) == {}
