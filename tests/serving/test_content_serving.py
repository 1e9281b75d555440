"""The content index at serving time: searches, similar items, new arrivals, brand-new products."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
import scipy.sparse as sp
from django.utils import timezone

from behavior.models import Event, EventKind, Shopper
from catalog.models import Product
from recommender.core.content import ContentModel
from recommender.serving.model_cache import SearchIndex
from recommender.serving.products import similar_products
from recommender.serving.service import recommend
from tests.serving.conftest import NEWEST, train

pytestmark = pytest.mark.django_db


@pytest.fixture
def content_shop(shop) -> dict:
    """The three-group shop plus two lanterns nobody has touched, then every model trained."""
    garden = shop["categories"][2]
    lanterns = Product.objects.bulk_create(
        [
            Product(
                sku="LANT-1",
                title="Solar garden lantern",
                description="Warm light for the patio.",
                price=Decimal("19.00"),
                category=garden,
            ),
            Product(
                sku="LANT-2",
                title="Hanging lantern",
                description="A candle lantern for the garden.",
                price=Decimal("24.00"),
                category=garden,
            ),
        ]
    )
    train("item_knn", "popularity", "trending", "content")
    return {**shop, "lanterns": lanterns}


def _search(external_id: str, query: str) -> None:
    """A search a minute after the shop's newest event (real-time weights decay from a
    shopper's own newest event, so their history still counts)."""
    shopper, _ = Shopper.objects.get_or_create(external_id=external_id)
    Event.objects.create(
        event_id=f"{external_id}-search-{query}",
        shopper=shopper,
        kind=EventKind.SEARCH,
        query=query,
        occurred_at=NEWEST + timedelta(minutes=1),
    )


def test_a_shopper_whose_only_event_is_a_search_gets_products_whose_titles_contain_it(
    content_shop,
):
    _search("searcher", "lantern")

    result = recommend(shopper="searcher", slot="for_you", k=5, now=timezone.now())

    first_two = result.items[:2]
    assert {item.product.sku for item in first_two} == {"LANT-1", "LANT-2"}
    for item in first_two:
        assert "lantern" in item.product.title.lower()
        assert item.reason.code == "search"
        assert item.reason.text == 'because you searched for "lantern"'
        assert item.source.startswith("content@")
    assert len(result.items) == 5


def test_a_search_joins_the_shoppers_behaviour_instead_of_replacing_it(content_shop):
    _search("s-0", "lantern")  # s-0 browses mugs

    result = recommend(shopper="s-0", slot="for_you", k=6, now=timezone.now())

    codes = [item.reason.code for item in result.items]
    assert "search" in codes
    assert any(item.source.startswith("item_knn@") for item in result.items)
    searched = [i.product.sku for i in result.items if i.reason.code == "search"]
    assert set(searched) <= {"LANT-1", "LANT-2"}


def test_a_query_matching_nothing_changes_nothing(content_shop):
    now = timezone.now()
    before = recommend(shopper="s-0", slot="for_you", k=6, now=now)

    _search("s-0", "zeppelin")
    after = recommend(shopper="s-0", slot="for_you", k=6, now=now)

    assert [i.product.sku for i in after.items] == [i.product.sku for i in before.items]
    assert "search" not in {item.reason.code for item in after.items}


def test_similar_for_a_popular_product_still_leads_with_behavioural_neighbours(content_shop):
    result = similar_products(sku="MUG-0", k=5, now=timezone.now())

    assert result.items[0].reason.code == "similar"
    assert result.items[0].source.startswith("item_knn@")
    assert result.items[0].reason.text == "chosen by the same shoppers as Mug 0"
    behavioural = [i for i in result.items if i.reason.code == "similar"]
    assert len(behavioural) >= 3
    assert all(i.product.sku.startswith("MUG") for i in result.items)


def test_a_product_without_events_has_content_neighbours_from_the_index(content_shop):
    result = similar_products(sku="LANT-1", k=5, now=timezone.now())

    assert result.items[0].product.sku == "LANT-2"
    assert result.items[0].reason.code == "similar_content"
    assert result.items[0].source.startswith("content@")
    assert result.items[0].reason.text == (
        "same category as Solar garden lantern, similar description"
    )
    assert result.items[1].reason.text == "same category as Solar garden lantern"
    assert all(i.product.category == "Garden" for i in result.items)


def test_a_brand_new_product_has_a_similar_list_led_by_similar_titles_in_its_category(
    content_shop,
):
    garden = content_shop["categories"][2]
    Product.objects.create(
        sku="LANT-NEW", title="Garden lantern XL", price=Decimal("30.00"), category=garden
    )

    result = similar_products(sku="LANT-NEW", k=5, now=timezone.now())

    assert len(result.items) == 5
    assert {i.product.sku for i in result.items[:2]} == {"LANT-1", "LANT-2"}
    assert all(i.reason.code == "similar_content" for i in result.items)
    assert sum(i.product.category == "Garden" for i in result.items) >= 4


def test_a_brand_new_product_outside_any_category_still_gets_a_similar_list(content_shop):
    Product.objects.create(sku="ODD-1", title="Lantern oil", price=Decimal("3.00"))

    result = similar_products(sku="ODD-1", k=4, now=timezone.now())

    assert len(result.items) == 4
    assert result.items[0].product.sku in {"LANT-1", "LANT-2"}


def test_new_arrivals_follow_the_shoppers_recent_items(content_shop, settings):
    settings.SHELFWISE_DIVERSITY_MAX_SHARE = 1.0
    garden = content_shop["categories"][2]
    mugs = content_shop["categories"][0]
    now = timezone.now()
    gnome = Product.objects.create(sku="GNOME", title="Gnome", price=1, category=garden)
    newest = Product.objects.create(sku="CUP", title="Cup", price=1, category=mugs)
    Product.objects.filter(pk=gnome.pk).update(created_at=now - timedelta(minutes=1))

    for_gardener = recommend(shopper="s-2", slot="new_arrivals", k=5, now=now)
    for_newcomer = recommend(shopper="nobody", slot="new_arrivals", k=5, now=now)

    assert for_newcomer.items[0].product.sku == newest.sku
    assert [i.product.category for i in for_gardener.items] == ["Garden"] * 5
    assert for_gardener.items[0].reason.code.startswith("because_you_")
    gardener_skus = [i.product.sku for i in for_gardener.items]
    assert newest.sku not in gardener_skus


def test_new_arrivals_added_since_training_rank_by_the_shoppers_category(content_shop, settings):
    settings.SHELFWISE_DIVERSITY_MAX_SHARE = 1.0
    garden, mugs = content_shop["categories"][2], content_shop["categories"][0]
    gnome = Product.objects.create(sku="GNOME", title="Gnome", price=1, category=garden)
    cup = Product.objects.create(sku="CUP", title="Cup", price=1, category=mugs)

    result = recommend(shopper="s-2", slot="new_arrivals", k=30, now=timezone.now())

    skus = [i.product.sku for i in result.items]
    assert skus.index(gnome.sku) < skus.index(cup.sku)
    gnome_item = result.items[skus.index(gnome.sku)]
    assert gnome_item.reason.code == "new_arrival"


def test_new_arrivals_rank_the_shoppers_taste_among_new_products_only(content_shop, settings):
    settings.SHELFWISE_DIVERSITY_MAX_SHARE = 1.0
    settings.SHELFWISE_NEW_ARRIVALS_DAYS = 30
    garden, mugs = content_shop["categories"][2], content_shop["categories"][0]
    now = timezone.now()
    Product.objects.update(created_at=now - timedelta(days=200))
    gnome = Product.objects.create(sku="GNOME", title="Gnome", price=1, category=garden)
    cup = Product.objects.create(sku="CUP", title="Cup", price=1, category=mugs)

    result = recommend(shopper="s-2", slot="new_arrivals", k=2, now=now)

    assert [i.product.sku for i in result.items] == [gnome.sku, cup.sku]
    assert result.items[1].reason.code == "new_arrival"


def test_the_search_index_scores_queries_like_the_content_model():
    texts = ["red wool scarf", "blue wool hat", "garden lantern solar", "lantern oil", ""]
    model = ContentModel().fit(sp.csr_matrix((1, len(texts))), item_texts=texts)

    index = SearchIndex(model)

    for query in ("wool", "solar lantern", "lantern lantern oil", "nothing here", ""):
        assert np.allclose(index.scores(query), model.query_vector(query), atol=1e-6)
