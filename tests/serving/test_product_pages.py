"""What a product page costs and how its cached lists follow the catalog."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import Product
from recommender.serving.products import product_page_lists, similar_products

pytestmark = pytest.mark.django_db


def _similar(api, sku: str = "MUG-0") -> dict:
    return api.get(f"/api/v1/products/{sku}/similar", {"k": 5}).json()


def test_a_product_page_reads_nothing_from_postgresql_once_catalog_and_models_are_loaded(
    trained_shop, settings, django_assert_max_num_queries
):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0  # computed every time
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 60
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 60
    now = timezone.now()
    similar_products(sku="MUG-0", k=5, now=now)  # loads the models and the catalog snapshot

    with django_assert_max_num_queries(0):
        result = similar_products(sku="MUG-1", k=5, now=now)

    assert len(result.items) == 5
    assert result.items[0].reason.text == "chosen by the same shoppers as Mug 1"


def test_a_cached_product_list_is_served_again_until_a_price_changes(
    api, trained_shop, settings, django_capture_on_commit_callbacks
):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 300
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 60
    first = _similar(api)
    assert first["cached"] is False
    assert _similar(api)["cached"] is True
    top = first["results"][0]["product"]

    with django_capture_on_commit_callbacks(execute=True):
        api.put(
            f"/api/v1/products/{top['sku']}",
            {"title": top["title"], "price": "3.33"},
            format="json",
        )
    after = _similar(api)

    assert after["cached"] is False
    assert after["results"][0]["product"]["price"] == "3.33"


def test_both_lists_of_a_product_page_are_cached_apart(trained_shop, settings):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 300
    now = timezone.now()

    similar, together = product_page_lists(sku="MUG-0", k=5, now=now)
    again = similar_products(sku="MUG-0", k=5, now=now)

    assert (similar.slot, together.slot) == ("similar", "bought_together")
    assert not similar.cached and again.cached
    assert [i.product.sku for i in again.items] == [i.product.sku for i in similar.items]


def test_a_product_added_after_the_snapshot_was_built_is_still_found(trained_shop, settings):
    settings.SHELFWISE_CATALOG_CHECK_SECONDS = 60
    now = timezone.now()
    similar_products(sku="MUG-0", k=5, now=now)  # builds the snapshot
    # As the admin creates it: no catalog version bump, so the snapshot does not hold it yet.
    Product.objects.create(sku="MUG-NEW", title="Mug new", price=Decimal("9.00"))

    result = similar_products(sku="MUG-NEW", k=5, now=now)

    assert result.product == "MUG-NEW"
    assert len(result.items) == 5
    assert "MUG-NEW" not in {item.product.sku for item in result.items}
