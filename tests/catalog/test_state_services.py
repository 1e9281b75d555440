"""Catalog state changes made through services move the catalog version, so serving sees them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Product, Promotion
from catalog.services import end_promotions, set_products_active, set_promotions_active
from catalog.versioning import catalog_version
from tests.factories import ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db


def test_ending_a_running_promotion_moves_its_end_and_the_catalog_version(
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    running = PromotionFactory(starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))
    upcoming = PromotionFactory(starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2))
    before = catalog_version()

    with django_capture_on_commit_callbacks(execute=True):
        ended = end_promotions(promotions=Promotion.objects.all(), now=now)

    running.refresh_from_db()
    upcoming.refresh_from_db()
    assert ended == 1
    assert running.ends_at == now and running.updated_at == now
    assert upcoming.ends_at == now + timedelta(days=2)
    assert catalog_version() != before


def test_pausing_counts_only_promotions_that_change():
    PromotionFactory(is_active=True)
    PromotionFactory(is_active=False)

    changed = set_promotions_active(promotions=Promotion.objects.all(), active=False)

    assert changed == 1
    assert not Promotion.objects.filter(is_active=True).exists()


def test_deactivating_products_stamps_updated_at_and_leaves_the_rest(
    django_capture_on_commit_callbacks,
):
    target, other = ProductFactory(), ProductFactory()
    before = catalog_version()

    with django_capture_on_commit_callbacks(execute=True):
        changed = set_products_active(products=Product.objects.filter(pk=target.pk), active=False)

    target.refresh_from_db()
    other.refresh_from_db()
    assert changed == 1
    assert not target.is_active and other.is_active
    assert target.updated_at > other.updated_at
    assert catalog_version() != before


def test_a_no_op_does_not_move_the_catalog_version(django_capture_on_commit_callbacks):
    ProductFactory(is_active=True)
    before = catalog_version()

    with django_capture_on_commit_callbacks(execute=True):
        changed = set_products_active(products=Product.objects.all(), active=True)

    assert changed == 0
    assert catalog_version() == before
