from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Product, Promotion
from tests.factories import CategoryFactory, ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db

NOON = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)


# --- Product ----------------------------------------------------------------------------------
def test_the_database_rejects_a_negative_stock():
    with pytest.raises(IntegrityError, match="product_stock_not_negative"), transaction.atomic():
        ProductFactory(stock=-1)

    assert Product.objects.count() == 0


def test_the_database_rejects_a_negative_price():
    with pytest.raises(IntegrityError, match="product_price_not_negative"), transaction.atomic():
        ProductFactory(price=Decimal("-0.01"))

    assert Product.objects.count() == 0


def test_the_database_rejects_a_points_price_of_zero():
    with pytest.raises(IntegrityError, match="product_points_price_positive"), transaction.atomic():
        ProductFactory(points_price=0)


def test_full_clean_names_the_negative_stock_and_price_fields():
    product = ProductFactory.build(stock=-3, price=Decimal("-1"), category=None)

    with pytest.raises(ValidationError) as error:
        product.full_clean()

    assert set(error.value.message_dict) == {"stock", "price"}


def test_a_product_with_zero_stock_and_no_tracking_are_both_allowed():
    sold_out = ProductFactory(stock=0)
    untracked = ProductFactory(stock=None)

    assert not sold_out.in_stock
    assert untracked.in_stock


def test_available_products_are_active_with_stock_or_untracked_stock():
    in_stock = ProductFactory(stock=5)
    untracked = ProductFactory(stock=None)
    ProductFactory(stock=0)
    ProductFactory(stock=5, is_active=False)
    ProductFactory(stock=None, is_active=False)

    available = set(Product.objects.available())

    assert available == {in_stock, untracked}


def test_redeemable_products_cost_at_most_the_shoppers_points():
    cheap = ProductFactory(points_price=100)
    exact = ProductFactory(points_price=250)
    ProductFactory(points_price=251)
    ProductFactory(points_price=None)

    redeemable = set(Product.objects.redeemable(points=250))

    assert redeemable == {cheap, exact}


# --- Promotion --------------------------------------------------------------------------------
def test_the_database_rejects_a_promotion_ending_before_it_starts():
    with (
        pytest.raises(IntegrityError, match="promotion_ends_after_start"),
        transaction.atomic(),
    ):
        PromotionFactory(starts_at=NOON, ends_at=NOON - HOUR)

    assert Promotion.objects.count() == 0


def test_the_database_rejects_a_promotion_ending_the_moment_it_starts():
    with (
        pytest.raises(IntegrityError, match="promotion_ends_after_start"),
        transaction.atomic(),
    ):
        PromotionFactory(starts_at=NOON, ends_at=NOON)


def test_clean_rejects_a_promotion_ending_before_it_starts_on_the_ends_at_field():
    promotion = PromotionFactory.build(starts_at=NOON, ends_at=NOON - HOUR)

    with pytest.raises(ValidationError) as error:
        promotion.full_clean()

    assert "ends_at" in error.value.message_dict


def test_clean_accepts_a_promotion_ending_after_it_starts():
    promotion = PromotionFactory.build(starts_at=NOON, ends_at=NOON + HOUR)

    promotion.full_clean()


def test_the_database_rejects_a_discount_above_one_hundred_percent():
    with (
        pytest.raises(IntegrityError, match="promotion_discount_in_range"),
        transaction.atomic(),
    ):
        PromotionFactory(discount_percent=Decimal("100.01"))


def test_a_promotion_is_active_from_the_very_moment_it_starts():
    promotion = PromotionFactory(starts_at=NOON, ends_at=NOON + HOUR)

    assert list(Promotion.objects.active(at=NOON)) == [promotion]
    assert list(Promotion.objects.active(at=NOON - TICK)) == []


def test_a_promotion_is_no_longer_active_at_the_moment_it_ends():
    promotion = PromotionFactory(starts_at=NOON, ends_at=NOON + HOUR)

    assert list(Promotion.objects.active(at=NOON + HOUR - TICK)) == [promotion]
    assert list(Promotion.objects.active(at=NOON + HOUR)) == []


def test_a_paused_promotion_is_not_active_inside_its_window():
    PromotionFactory(starts_at=NOON, ends_at=NOON + HOUR, is_active=False)

    assert list(Promotion.objects.active(at=NOON)) == []


def test_upcoming_promotions_start_strictly_after_the_given_time():
    later = PromotionFactory(starts_at=NOON + TICK, ends_at=NOON + HOUR)
    PromotionFactory(starts_at=NOON, ends_at=NOON + HOUR)
    PromotionFactory(starts_at=NOON + HOUR, ends_at=NOON + 2 * HOUR, is_active=False)

    assert list(Promotion.objects.upcoming(at=NOON)) == [later]


def test_expired_promotions_include_those_ending_exactly_now_even_when_paused():
    just_ended = PromotionFactory(starts_at=NOON - HOUR, ends_at=NOON)
    paused_and_ended = PromotionFactory(starts_at=NOON - HOUR, ends_at=NOON - TICK, is_active=False)
    PromotionFactory(starts_at=NOON - HOUR, ends_at=NOON + TICK)

    assert set(Promotion.objects.expired(at=NOON)) == {just_ended, paused_and_ended}


# --- Category ---------------------------------------------------------------------------------
def test_clean_rejects_a_category_placed_below_its_own_descendant():
    home = CategoryFactory(slug="home")
    kitchen = CategoryFactory(slug="kitchen", parent=home)
    mugs = CategoryFactory(slug="mugs", parent=kitchen)
    home.parent = mugs

    with pytest.raises(ValidationError) as error:
        home.clean()

    assert "parent" in error.value.message_dict


def test_clean_rejects_a_category_that_is_its_own_parent():
    home = CategoryFactory(slug="home")
    home.parent = home

    with pytest.raises(ValidationError):
        home.clean()


def test_the_database_rejects_a_category_that_is_its_own_parent():
    home = CategoryFactory(slug="home")

    with (
        pytest.raises(IntegrityError, match="category_not_its_own_parent"),
        transaction.atomic(),
    ):
        type(home).objects.filter(pk=home.pk).update(parent=home.pk)


def test_ancestors_run_from_the_root_down_to_the_parent():
    home = CategoryFactory(slug="home", name="Home")
    kitchen = CategoryFactory(slug="kitchen", name="Kitchen", parent=home)
    mugs = CategoryFactory(slug="mugs", name="Mugs", parent=kitchen)

    assert mugs.ancestors() == [home, kitchen]


def test_a_promotion_names_its_discount_in_plain_digits():
    promotion = Promotion(name="Winter sale", discount_percent=Decimal("20.00"))

    assert str(promotion) == "Winter sale (-20%)"
