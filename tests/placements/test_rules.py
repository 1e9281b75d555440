"""Rules on a planted shop: each kind lands where the documented order says, on time, for the
shoppers it targets, and only once live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog.models import Category, Product
from placements.models import Rule, RuleKind, RuleState, Visitors
from placements.rule_services import publish_rule, save_rule
from placements.services import placement_recommendations
from tests.factories import PromotionFactory

pytestmark = pytest.mark.django_db


def _skus(home, now=None, **request) -> list[str]:
    listed = placement_recommendations(placement=home, now=now or timezone.now(), **request)
    return [item.recommendation.product.sku for item in listed.items]


def _marks(home, **request) -> dict[str, tuple[str, ...]]:
    listed = placement_recommendations(placement=home, now=timezone.now(), **request)
    return {i.recommendation.product.sku: i.marks for i in listed.items}


def _rule(home, **fields) -> Rule:
    fields.setdefault("state", RuleState.LIVE)
    return save_rule(rule=Rule(name=fields.get("kind", "rule"), **fields), placements=[home])


def _garden() -> Category:
    return Category.objects.get(slug="garden")


def test_a_pinned_product_lands_at_its_position(home):
    _rule(home, kind=RuleKind.PIN, product=Product.objects.get(sku="GAR-5"), position=2)

    marks = _marks(home, shopper="s-0")

    assert list(marks)[1] == "GAR-5" and marks["GAR-5"] == ("pinned",)
    assert len(marks) == 5


def test_an_attribute_slot_takes_the_best_ranked_match(home):
    before = _skus(home, shopper="s-1", k=20)  # s-1 browses plates, so garden ranks lower
    best_garden = next(sku for sku in before if sku.startswith("GAR"))
    _rule(home, kind=RuleKind.PIN, category=_garden(), position=1)

    after = _skus(home, shopper="s-1", k=20)

    assert after[0] == best_garden
    assert after[1:] == [sku for sku in before if sku != best_garden][:19]


def test_promotion_share_is_met_exactly_when_enough_promoted_products_exist(home):
    PromotionFactory().categories.set([_garden()])
    natural = [s for s in _skus(home, shopper="s-0") if s.startswith("GAR")]
    assert len(natural) < 3  # a mugs shopper: the model alone shows fewer
    _rule(home, kind=RuleKind.PROMOTION_SHARE, share_count=3)

    marks = _marks(home, shopper="s-0")

    assert len([s for s in marks if s.startswith("GAR")]) == 3
    assert sum("promotion share" in m for m in marks.values()) == 3 - len(natural)


def test_promotion_share_takes_what_there_is_when_too_few_are_promoted(home):
    PromotionFactory().products.set([Product.objects.get(sku="GAR-1")])
    _rule(home, kind=RuleKind.PROMOTION_SHARE, share_count=3)

    skus = _skus(home, shopper="s-0")

    assert "GAR-1" in skus and len(skus) == 5


def test_an_exclude_filter_removes_a_whole_category_tree(home):
    child = Category.objects.create(name="Pots", slug="pots", parent=_garden())
    Product.objects.filter(sku="GAR-0").update(category=child)
    _rule(home, kind=RuleKind.INCLUDE, category=_garden())

    skus = _skus(home, shopper="s-0", k=10)

    assert skus and all(s.startswith("GAR") for s in skus) and "GAR-0" in skus


def test_a_rule_switches_on_and_off_at_its_times(home):
    start = timezone.now() + timedelta(hours=1)
    _rule(
        home,
        kind=RuleKind.PIN,
        product=Product.objects.get(sku="GAR-5"),
        position=1,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )

    assert _skus(home, now=start - timedelta(seconds=1), shopper="s-0")[0] != "GAR-5"
    assert _skus(home, now=start, shopper="s-0")[0] == "GAR-5"
    assert _skus(home, now=start + timedelta(hours=1), shopper="s-0")[0] != "GAR-5"


def test_a_segment_rule_hits_only_its_shoppers(home):
    pin = {"kind": RuleKind.PIN, "product": Product.objects.get(sku="GAR-5"), "position": 1}
    _rule(home, countries="FR", **pin)

    assert _skus(home, shopper="s-1")[0] == "GAR-5"  # s-1 shops from France
    assert _skus(home, shopper="s-0")[0] != "GAR-5"  # s-0 from Germany


def test_new_and_returning_shoppers_are_told_apart(home):
    pin = {"kind": RuleKind.PIN, "product": Product.objects.get(sku="GAR-5"), "position": 1}
    _rule(home, audience=Visitors.NEW, **pin)

    assert _skus(home, shopper="a-stranger")[0] == "GAR-5"
    assert _skus(home, shopper="s-0")[0] != "GAR-5"


def test_a_filter_wins_over_a_pin(home):
    Product.objects.filter(sku="GAR-5").update(brand="Banned")
    _rule(home, kind=RuleKind.EXCLUDE, brand="banned")
    _rule(home, kind=RuleKind.PIN, product=Product.objects.get(sku="GAR-5"), position=1)

    assert "GAR-5" not in _skus(home, shopper="s-0", k=10)


def test_the_higher_priority_pin_takes_a_shared_position(home):
    pin = {"kind": RuleKind.PIN, "position": 1}
    _rule(home, product=Product.objects.get(sku="GAR-5"), priority=1, **pin)
    _rule(home, product=Product.objects.get(sku="GAR-6"), priority=5, **pin)

    skus = _skus(home, shopper="s-0")

    assert skus[0] == "GAR-6" and "GAR-5" not in skus[:1]


def test_a_pin_holds_its_position_against_a_boost(home):
    _rule(home, kind=RuleKind.BOOST, strength="strong", category=_garden())
    _rule(home, kind=RuleKind.PIN, product=Product.objects.get(sku="PLA-3"), position=1)

    marks = _marks(home, shopper="s-0")

    assert next(iter(marks)) == "PLA-3"
    assert any(m == ("boosted strong",) for m in marks.values())


def test_draft_rules_change_only_the_preview(home):
    _rule(
        home,
        kind=RuleKind.PIN,
        product=Product.objects.get(sku="GAR-5"),
        position=1,
        state=RuleState.DRAFT,
    )

    assert _skus(home, shopper="s-0")[0] != "GAR-5"
    assert _skus(home, shopper="s-0", drafts=True)[0] == "GAR-5"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": RuleKind.PIN, "position": 6, "product_sku": "GAR-1"}, "position"),
        ({"kind": RuleKind.PIN, "position": 1, "product_sku": "SOLD-OUT"}, "product"),
        ({"kind": RuleKind.PIN, "position": 1}, "product"),
        ({"kind": RuleKind.PROMOTION_SHARE, "share_count": 6}, "share_count"),
        ({"kind": RuleKind.BOOST, "brand": "Acme"}, "strength"),
        ({"kind": RuleKind.EXCLUDE}, "kind"),
        ({"kind": RuleKind.EXCLUDE, "brand": "Acme", "countries": "Narnia"}, "countries"),
    ],
)
def test_a_bad_rule_is_refused_with_the_field_and_stores_nothing(home, fields, field):
    Product.objects.create(sku="SOLD-OUT", title="Gone", price="1.00", stock=0)
    sku = fields.pop("product_sku", None)
    if sku:
        fields["product"] = Product.objects.get(sku=sku)

    with pytest.raises(ValidationError) as refused:
        _rule(home, **fields)

    assert field in refused.value.message_dict
    assert not Rule.objects.exists()


def test_a_rule_ending_before_it_starts_is_refused(home):
    now = timezone.now()

    with pytest.raises(ValidationError, match="end after"):
        _rule(home, kind=RuleKind.EXCLUDE, brand="x", starts_at=now, ends_at=now)


def test_two_live_pins_fighting_for_a_position_at_the_same_time_are_refused(home):
    pin = {"kind": RuleKind.PIN, "position": 1}
    _rule(home, product=Product.objects.get(sku="GAR-5"), **pin)

    with pytest.raises(ValidationError) as refused:
        _rule(home, product=Product.objects.get(sku="GAR-6"), **pin)

    assert "position" in refused.value.message_dict
    assert Rule.objects.count() == 1


def test_publishing_a_pin_whose_product_sold_out_is_refused_and_it_stays_a_draft(home):
    product = Product.objects.get(sku="GAR-5")
    rule = _rule(home, kind=RuleKind.PIN, product=product, position=1, state=RuleState.DRAFT)
    Product.objects.filter(pk=product.pk).update(stock=0)
    rule.refresh_from_db()

    with pytest.raises(ValidationError):
        publish_rule(rule=rule)

    assert Rule.objects.get().state == RuleState.DRAFT
