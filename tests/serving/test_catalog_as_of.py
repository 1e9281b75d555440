"""A list computed at a past clock T serves the catalogue as it stood at T: a product sold out
after T is on it, one sold out before T is not; a live list serves today's catalogue, from the
very snapshot it always did (real PostgreSQL and Redis; changes through the product API)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.availability import AvailabilityChange, record_changes
from catalog.models import Product, ProductAvailabilityChange
from recommender.serving.catalog_state import catalog_at, current_catalog, forget_catalog
from recommender.serving.products import similar_products
from recommender.serving.service import recommend
from tests.conftest import api_client
from tests.serving.conftest import NEWEST

pytestmark = pytest.mark.django_db

CUT = NEWEST - timedelta(days=20)
EVERY = 30  # the shop's whole catalog fits one list


def _skus(*, now, shopper: str = "never-seen", slot: str = "trending") -> list[str]:
    return [r.product.sku for r in recommend(shopper=shopper, slot=slot, k=EVERY, now=now).items]


@pytest.fixture(autouse=True)
def _catalog_checked_on_every_request(settings):
    """Every request sees the catalog as stored: no snapshot outlives a write here."""
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 0


@pytest.fixture
def set_stock(django_capture_on_commit_callbacks):
    """Change a product's stock through the API, its commit hooks run (the version moves)."""

    api = api_client()

    def write(sku: str, stock: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.patch(f"/api/v1/products/{sku}", {"stock": stock}, format="json")
        assert response.status_code == 200

    return write


def test_a_product_sold_out_after_the_clock_is_served_at_it_and_not_live(trained_shop, set_stock):
    sku = _skus(now=CUT)[0]

    set_stock(sku, 0)

    assert sku in _skus(now=CUT)
    assert sku not in _skus(now=timezone.now())
    other = _skus(now=CUT)[1]
    for now, shown in ((CUT, True), (timezone.now(), False)):
        similar = similar_products(sku=other, k=EVERY, now=now).items
        assert (sku in [r.product.sku for r in similar]) is shown


def test_a_product_sold_out_before_the_clock_is_not_served_at_it_even_once_restocked(
    trained_shop, set_stock
):
    sku = _skus(now=CUT)[0]
    set_stock(sku, 0)
    # The sale-out happened before the cut: its recorded time moves back there.
    ProductAvailabilityChange.objects.filter(product__sku=sku).update(
        changed_at=CUT - timedelta(days=1)
    )
    forget_catalog()
    assert sku not in _skus(now=CUT)

    set_stock(sku, 4)

    assert sku not in _skus(now=CUT)
    assert sku in _skus(now=timezone.now())


def test_a_product_with_no_recorded_change_keeps_todays_state_at_a_past_clock(trained_shop):
    sku = _skus(now=CUT)[0]
    # Sold out without a write path that records (a raw update): nothing tells when.
    Product.objects.filter(sku=sku).update(stock=0, updated_at=timezone.now())
    forget_catalog()

    assert sku not in _skus(now=CUT)


def test_a_live_request_is_served_the_current_snapshot_and_a_past_one_a_cached_copy(
    trained_shop,
):
    product = trained_shop["products"][0]
    record_changes(
        changes=[
            AvailabilityChange(
                product.pk, CUT + timedelta(days=1), now=(False, True), was=(True, True)
            )
        ]
    )
    Product.objects.filter(pk=product.pk).update(is_active=False, updated_at=timezone.now())
    forget_catalog()
    live = current_catalog()
    row = int(live.rows_of([product.pk])[0])

    past = catalog_at(live, now=CUT)

    assert catalog_at(live, now=timezone.now()) is live
    assert catalog_at(live, now=CUT) is past
    assert past.version != live.version
    assert past.available[row] and not live.available[row]
    assert (past.available != live.available).sum() == 1
