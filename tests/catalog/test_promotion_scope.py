"""A promotion covers the products it names and every product in its categories or below them;
the API, the admin and the serving snapshot all read that one rule from the catalog."""

from __future__ import annotations

import pytest
from django.utils import timezone

from catalog.models import CategoryTree, Product, Promotion
from recommender.serving.catalog_state import current_catalog, forget_catalog
from tests.factories import CategoryFactory, ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    home = CategoryFactory(slug="scope-home", name="Home")
    kitchen = CategoryFactory(slug="scope-kitchen", name="Kitchen", parent=home)
    mugs = CategoryFactory(slug="scope-mugs", name="Mugs", parent=kitchen)
    garden = CategoryFactory(slug="scope-garden", name="Garden")
    products = {
        "lamp": ProductFactory(category=home),
        "pan": ProductFactory(category=kitchen),
        "mug": ProductFactory(category=mugs),
        "rake": ProductFactory(category=garden),
        "hose": ProductFactory(category=garden),
    }
    on_kitchen = PromotionFactory()
    on_kitchen.categories.add(kitchen)
    on_kitchen.products.add(products["rake"])
    return {"kitchen": kitchen, "mugs": mugs, "promotion": on_kitchen, **products}


def test_the_tree_gives_a_category_with_everything_below_it(shop):
    tree = CategoryTree.load()

    assert tree.with_descendants({shop["kitchen"].pk}) == {shop["kitchen"].pk, shop["mugs"].pk}
    assert tree.with_descendants({shop["mugs"].pk}) == {shop["mugs"].pk}


def test_a_promotion_covers_what_it_names_and_its_categories_with_their_subcategories(shop):
    covered = set(shop["promotion"].covered_products())

    assert covered == {shop["pan"], shop["mug"], shop["rake"]}


def test_covering_filters_products_for_several_promotions_at_once(shop):
    on_hose = PromotionFactory(ends_at=timezone.now() + timezone.timedelta(days=1))
    on_hose.products.add(shop["hose"])

    ours = Product.objects.filter(category__slug__startswith="scope-")
    both = Promotion.objects.filter(pk__in=[shop["promotion"].pk, on_hose.pk])

    promoted = ours.filter(both.covering()).distinct()
    not_promoted = ours.exclude(both.covering())

    assert set(promoted) == {shop["pan"], shop["mug"], shop["rake"], shop["hose"]}
    assert list(not_promoted) == [shop["lamp"]]


def test_the_serving_snapshot_covers_the_same_products(shop):
    forget_catalog()
    try:
        snapshot = current_catalog()
    finally:
        forget_catalog()

    (info,) = [p for p in snapshot.promotions if p.id == shop["promotion"].pk]
    assert set(snapshot.pks[info.rows].tolist()) == {
        p.pk for p in shop["promotion"].covered_products()
    }


def test_the_scope_of_many_promotions_costs_the_same_queries_as_one(
    shop, django_assert_num_queries
):
    ids = [shop["promotion"].pk]
    for _ in range(5):
        extra = PromotionFactory()
        extra.categories.add(shop["mugs"])
        extra.products.add(shop["hose"])
        ids.append(extra.pk)
    tree = CategoryTree.load()

    with django_assert_num_queries(2):
        named = Promotion.objects.filter(pk__in=ids).named_products()
        covered = Promotion.objects.filter(pk__in=ids).covered_categories(tree=tree)

    assert len(named) == len(covered) == 6
