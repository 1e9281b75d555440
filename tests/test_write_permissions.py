"""Every write checks the Django model permission it needs, whoever authenticates: an API token,
a staff session on the API, the dashboard or the admin. Reads stay open to any signed-in user."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from behavior.models import Event, Shopper
from catalog.models import Product
from recommender.models import TrainingRun
from tests.conftest import api_client
from tests.factories import ProductFactory, ShopperFactory

pytestmark = pytest.mark.django_db

PRODUCT = {"title": "Blue mug", "price": "7.50"}
EVENT = {"event_id": "e-1", "shopper": "new-shopper", "product": "MUG-1", "kind": "view"}
WRITES = {
    "put product": ("put", "/api/v1/products/NEW-1", PRODUCT),
    "bulk products": ("post", "/api/v1/products/bulk", {"products": [{"sku": "NEW-2", **PRODUCT}]}),
    "events": ("post", "/api/v1/events", {"events": [EVENT]}),
    "put shopper": ("put", "/api/v1/shoppers/someone", {"country": "DE"}),
    "training run": ("post", "/api/v1/training-runs", {"algorithms": ["popularity"]}),
}


def _nothing_written() -> bool:
    return (
        not Product.objects.exclude(sku="MUG-1").exists()
        and not Event.objects.exists()
        and not Shopper.objects.exists()
        and not TrainingRun.objects.exists()
    )


def _staff_api_client(staff_user) -> APIClient:
    client = APIClient()
    client.force_login(staff_user)  # a session, as the browsable dashboard user has
    return client


@pytest.mark.parametrize("write", WRITES)
def test_a_staff_session_without_permissions_may_not_write_through_the_api(staff_user, write):
    ProductFactory(sku="MUG-1")
    method, url, body = WRITES[write]

    response = getattr(_staff_api_client(staff_user), method)(url, body, format="json")

    assert response.status_code == 403, response.content
    assert "permission" in response.json()["errors"][0]["detail"]
    assert _nothing_written()


@pytest.mark.parametrize("write", WRITES)
def test_a_reader_token_may_not_write_anything(write):
    ProductFactory(sku="MUG-1")
    method, url, body = WRITES[write]

    response = getattr(api_client("dashboard-feed", role="reader"), method)(
        url, body, format="json"
    )

    assert response.status_code == 403, response.content
    assert _nothing_written()


def test_the_refusal_names_the_missing_permissions(staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="add_product"))

    response = _staff_api_client(staff_user).put("/api/v1/products/NEW-1", PRODUCT, format="json")

    detail = response.json()["errors"][0]["detail"]
    assert detail == (
        "This write needs the permission(s): catalog.change_product, catalog.add_category."
    )


# Not transactional: the training run stays queued (its task is enqueued on commit).
@pytest.mark.parametrize(
    ("write", "status"),
    [
        ("put product", 201),
        ("bulk products", 200),
        ("events", 200),
        ("put shopper", 201),
        ("training run", 202),
    ],
)
def test_a_backend_token_may_write_the_catalog_shoppers_events_and_start_training(write, status):
    ProductFactory(sku="MUG-1")
    method, url, body = WRITES[write]

    response = getattr(api_client(), method)(url, body, format="json")

    assert response.status_code == status, response.content
    assert not _nothing_written()


def test_a_staff_session_with_the_model_permissions_may_write(staff_user):
    staff_user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_product", "change_product", "add_category"])
    )

    response = _staff_api_client(staff_user).put("/api/v1/products/NEW-1", PRODUCT, format="json")

    assert response.status_code == 201
    assert Product.objects.filter(sku="NEW-1").exists()


def test_a_reader_token_still_reads_products_and_recommendations():
    ProductFactory(sku="MUG-1")
    ShopperFactory(external_id="alice")
    reader = api_client("dashboard-feed", role="reader")

    responses = [
        reader.get("/api/v1/products"),
        reader.get("/api/v1/products/MUG-1"),
        reader.get("/api/v1/shoppers/alice/recommendations"),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]


# --- The dashboard ------------------------------------------------------------------------------
def test_a_staff_member_without_the_event_permission_cannot_simulate_an_event(client, staff_user):
    ProductFactory(sku="MUG-1")
    ShopperFactory(external_id="s-1")
    client.force_login(staff_user)

    page = client.get("/shoppers/s-1/")
    response = client.post("/shoppers/s-1/simulate/", {"sku": "MUG-1", "kind": "view"})

    assert page.status_code == 200
    assert "Simulate an event" not in page.content.decode()  # no form it may not use
    assert response.status_code == 403
    assert not Event.objects.exists()


def test_a_staff_member_with_the_event_permission_is_offered_the_simulation(client, staff_user):
    ShopperFactory(external_id="s-1")
    staff_user.user_permissions.add(Permission.objects.get(codename="add_event"))
    client.force_login(staff_user)

    page = client.get("/shoppers/s-1/")

    assert "Simulate an event" in page.content.decode()


# --- The admin ----------------------------------------------------------------------------------
def test_a_staff_member_who_may_only_view_products_cannot_open_the_csv_import(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_product"))
    client.force_login(staff_user)

    changelist = client.get("/admin/catalog/product/")
    import_page = client.get("/admin/catalog/product/import/")

    assert changelist.status_code == 200
    assert import_page.status_code == 403


def test_a_staff_member_without_the_view_permission_cannot_export_products(client, staff_user):
    ProductFactory(sku="MUG-1")
    client.force_login(staff_user)

    response = client.post("/admin/catalog/product/export/", {"format": "0"})

    assert response.status_code == 403
