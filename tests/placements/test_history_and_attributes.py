"""The rule kinds built on the shown history (rotation, "recently shown"), the price relative to
the page's product, tags, the promotion share as a percent, and the conflicts now refused; on
the planted shop, with the clock given."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from behavior.services import ingest_events
from catalog.models import Category, Product
from placements.models import Context, Placement, PriceRelation, Rule, RuleKind
from placements.selectors import live_setup
from placements.services import (
    live_placement_recommendations,
    placement_recommendations,
    serve_placement,
)
from recommender.impressions import flush_impressions
from tests.behavior.test_realtime import dead_redis_caches
from tests.factories import PromotionFactory
from tests.placements.test_rules import _marks, _rule, _skus

pytestmark = pytest.mark.django_db


def _shown(placement, *, at, shopper="s-0", times=1) -> list[str]:
    """Serve the placement's list to the shopper ``times`` times from ``at``, a minute apart,
    as the API does (impressions logged), and flush the buffered impressions."""
    for n in range(times):
        now = at + timedelta(minutes=n)
        served = serve_placement(
            placement_recommendations(placement=placement, now=now, shopper=shopper), now=now
        )
    flush_impressions()
    return [item.recommendation.product.sku for item in served.items]


def _view(sku: str, *, at, capture, shopper="s-0") -> None:
    with capture(execute=True):
        event = {"event_id": f"click-{sku}", "shopper": shopper, "product": sku, "kind": "view"}
        result = ingest_events(events=[{**event, "occurred_at": at.isoformat()}])
    assert result.stored == 1


def _marks_at(placement, now, **request) -> dict[str, tuple[str, ...]]:
    listed = placement_recommendations(placement=placement, now=now, **request)
    return {i.recommendation.product.sku: i.marks for i in listed.items}


def _rotation(home, **fields) -> Rule:
    fields = {"rotation_shows": 2, "rotation_hours": 24, "strength": "strong", **fields}
    return _rule(home, kind=RuleKind.ROTATION, **fields)


@pytest.fixture
def arrivals(trained_shop) -> Placement:
    """Newest products first: a ranking the shopper's own views leave alone ("for you" drops
    what the shopper just viewed, which would hide what a click does to the rotation)."""
    placement = Placement(name="arrivals", title="New", strategy="new_arrivals", k=5)
    placement.full_clean()
    placement.save()
    return placement


def test_rotation_drops_items_shown_too_often_and_a_click_brings_one_back(
    arrivals, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    _rotation(arrivals)
    first = _shown(arrivals, at=t0, times=2)

    second = _skus(arrivals, now=t0 + timedelta(minutes=5), shopper="s-0")

    assert len(second) == 5 and set(second).isdisjoint(first)
    _view(first[0], at=t0 + timedelta(minutes=6), capture=django_capture_on_commit_callbacks)
    after_click = _marks_at(arrivals, t0 + timedelta(minutes=7), shopper="s-0", k=20)
    assert next(iter(after_click)) == first[0]
    assert "rotated strong" not in after_click[first[0]]
    assert after_click[first[1]] == ("rotated strong",)


def test_one_showing_fewer_than_the_rule_or_older_than_its_window_does_not_rotate(home):
    t0 = timezone.now()
    _rotation(home, rotation_shows=3, rotation_hours=1)
    first = _shown(home, at=t0, times=2)

    assert _skus(home, now=t0 + timedelta(minutes=5), shopper="s-0") == first
    _shown(home, at=t0 + timedelta(minutes=10))
    assert _skus(home, now=t0 + timedelta(minutes=15), shopper="s-0")[0] != first[0]
    assert _skus(home, now=t0 + timedelta(hours=2), shopper="s-0") == first


def test_recently_shown_products_are_not_shown_again_within_the_hours(home):
    t0 = timezone.now()
    home.exclude_shown_hours = 1
    home.full_clean()
    home.save()
    first = _shown(home, at=t0)

    again = _skus(home, now=t0 + timedelta(minutes=30), shopper="s-0")

    assert len(again) == 5 and set(again).isdisjoint(first)
    assert _skus(home, now=t0 + timedelta(minutes=61), shopper="s-0") == first
    assert _skus(home, now=t0 + timedelta(minutes=30), shopper="s-1") != []  # per shopper


def test_with_redis_down_the_placement_is_served_without_its_history(home):
    home.exclude_shown_hours = 1
    home.save()
    _rotation(home)

    with override_settings(CACHES=dead_redis_caches()):
        listed = placement_recommendations(placement=home, now=timezone.now(), shopper="s-0")

    assert len(listed.items) == 5 and not any(item.marks for item in listed.items)


def test_the_api_reads_the_history_with_the_setup_and_a_changed_setup_still_rotates(arrivals):
    t0 = timezone.now()
    _rotation(arrivals)
    first = _shown(arrivals, at=t0, times=2)
    shown_twice = set(Product.objects.filter(sku__in=first).values_list("pk", flat=True))
    now = t0 + timedelta(minutes=5)

    # The memo was taken while serving above: the history comes with the setup's version.
    warm = live_setup(name="arrivals", shopper="s-0", now=now)

    assert warm is not None and warm.history is not None
    assert warm.history.shown_at_least(2, hours=24.0) == shown_twice
    served = live_placement_recommendations(name="arrivals", now=now, shopper="s-0")
    assert served is not None
    skus = [item.recommendation.product.sku for item in served.items]
    assert skus == _skus(arrivals, now=now, shopper="s-0") and set(skus).isdisjoint(first)

    # A new rotation asks what the memo did not: its answer is read apart, and it applies.
    third = _shown(arrivals, at=t0 + timedelta(minutes=6))
    _rotation(arrivals, rotation_shows=1, rotation_hours=1, strength="strong")
    later = t0 + timedelta(minutes=8)
    served = live_placement_recommendations(name="arrivals", now=later, shopper="s-0")
    assert served is not None
    marks = {item.recommendation.product.sku: item.marks for item in served.items}
    assert marks == _marks_at(arrivals, later, shopper="s-0")
    shown_again = [sku for sku in third if sku in marks]
    assert shown_again and all(marks[sku] == ("rotated strong",) for sku in shown_again)


def test_an_unknown_or_switched_off_placement_is_none_on_the_api_path(home):
    assert live_placement_recommendations(name="no-such", now=timezone.now()) is None
    home.is_active = False
    home.save()
    assert live_placement_recommendations(name=home.name, now=timezone.now()) is None


@pytest.fixture
def product_page(trained_shop) -> Placement:
    for i in range(10):  # GAR-i costs 10 + i
        Product.objects.filter(sku=f"GAR-{i}").update(price=Decimal(10 + i))
    placement = Placement(
        name="pdp", title="Product page", strategy="similar", context=Context.PRODUCT, k=5
    )
    placement.full_clean()
    placement.save()
    return placement


def _prices(placement, **request) -> dict[str, Decimal]:
    listed = placement_recommendations(placement=placement, now=timezone.now(), **request)
    return {
        i.recommendation.product.sku: Decimal(i.recommendation.product.price) for i in listed.items
    }


def test_a_relative_price_keeps_only_cheaper_or_nearby_products(product_page):
    cheaper = _rule(product_page, kind=RuleKind.INCLUDE, price_relation=PriceRelation.CHEAPER)

    found = _prices(product_page, product="GAR-5")

    assert found and all(price < 15 for price in found.values())
    cheaper.delete()
    _rule(product_page, kind=RuleKind.INCLUDE, price_relation="within", price_percent=10)
    nearby = _prices(product_page, product="GAR-5")
    assert nearby and set(nearby) <= {"GAR-4", "GAR-6"}  # 13.50 to 16.50, the page's own out


def test_a_relative_price_compares_with_the_carts_last_known_item(product_page):
    product_page.context = Context.CART
    product_page.save()
    _rule(product_page, kind=RuleKind.INCLUDE, price_relation=PriceRelation.PRICIER)

    found = _prices(product_page, cart=("GAR-0", "GAR-8"))

    assert found and all(price > 18 for price in found.values())


def test_tags_filter_and_fill_an_attribute_slot(home):
    Product.objects.filter(category__slug="garden").update(tags=["summer", "outdoor"])
    _rule(home, kind=RuleKind.INCLUDE, tag=" Summer ")

    skus = _skus(home, shopper="s-0", k=10)

    assert skus and all(s.startswith("GAR") for s in skus)
    Rule.objects.all().delete()
    _rule(home, kind=RuleKind.PIN, tag="outdoor", position=1)
    marks = _marks(home, shopper="s-0")
    first = next(iter(marks))
    assert first.startswith("GAR") and marks[first] == ("attribute slot",)


def test_a_promotion_share_in_percent_rounds_up_on_the_list_asked_for(home):
    PromotionFactory().categories.set([Category.objects.get(slug="garden")])
    _rule(home, kind=RuleKind.PROMOTION_SHARE, share_percent=60)

    for k, wanted in ((5, 3), (3, 2)):
        skus = _skus(home, shopper="s-0", k=k)
        assert len([s for s in skus if s.startswith("GAR")]) == wanted


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": RuleKind.PROMOTION_SHARE, "share_percent": 150}, "share_percent"),
        (
            {"kind": RuleKind.PROMOTION_SHARE, "share_percent": 50, "share_count": 2},
            "share_percent",
        ),
        ({"kind": RuleKind.INCLUDE, "price_relation": "cheaper"}, "price_relation"),
        ({"kind": RuleKind.INCLUDE, "price_relation": "within"}, "price_percent"),
        ({"kind": RuleKind.ROTATION, "strength": "weak", "rotation_shows": 3}, "rotation_hours"),
        ({"kind": RuleKind.ROTATION, "rotation_shows": 3, "rotation_hours": 999}, "rotation_hours"),
        ({"kind": RuleKind.BOOST, "strength": "weak", "rotation_shows": 3}, "rotation_shows"),
    ],
)
def test_a_bad_new_rule_is_refused_with_the_field_and_stores_nothing(home, fields, field):
    with pytest.raises(ValidationError) as refused:
        _rule(home, **fields)

    assert field in refused.value.message_dict
    assert not Rule.objects.exists()


def test_a_share_above_100_percent_says_so(home):
    with pytest.raises(ValidationError, match="150 % is not a share"):
        _rule(home, kind=RuleKind.PROMOTION_SHARE, share_percent=150)


def test_a_placement_with_relative_price_rules_cannot_become_a_shopper_placement(product_page):
    _rule(product_page, kind=RuleKind.EXCLUDE, price_relation=PriceRelation.PRICIER)
    product_page.context = Context.SHOPPER
    product_page.strategy = "for_you"

    with pytest.raises(ValidationError) as refused:
        product_page.full_clean()

    assert "context" in refused.value.message_dict
    assert Placement.objects.get(pk=product_page.pk).context == Context.PRODUCT


def test_a_recently_shown_window_past_the_history_kept_is_refused(home):
    home.exclude_shown_hours = 1000

    with pytest.raises(ValidationError) as refused:
        home.full_clean()

    assert "exclude_shown_hours" in refused.value.message_dict


def test_one_product_pinned_at_two_positions_at_once_is_refused(home):
    gar5 = Product.objects.get(sku="GAR-5")
    _rule(home, kind=RuleKind.PIN, product=gar5, position=1)

    with pytest.raises(ValidationError) as refused:
        _rule(home, kind=RuleKind.PIN, product=gar5, position=3, priority=4)

    assert "product" in refused.value.message_dict
    assert Rule.objects.count() == 1


def test_two_promotion_shares_at_once_are_refused_unless_their_schedules_or_shoppers_part(home):
    now = timezone.now()
    tomorrow = now + timedelta(days=1)
    kind = RuleKind.PROMOTION_SHARE
    _rule(home, kind=kind, share_count=2, countries="DE", ends_at=tomorrow)

    with pytest.raises(ValidationError) as refused:
        _rule(home, kind=kind, share_percent=40, starts_at=now + timedelta(hours=12))

    assert "share_percent" in refused.value.message_dict
    assert Rule.objects.count() == 1
    _rule(home, kind=kind, share_count=2, starts_at=tomorrow)  # starts as the first ends
    _rule(home, kind=kind, share_count=3, countries="FR", ends_at=tomorrow)  # other shoppers
    assert Rule.objects.count() == 3
