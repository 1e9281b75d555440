"""What-if on recent traffic, on the planted shop: the placement replayed on its last week,
live versus with draft rules, scored against what the shoppers went on to do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from behavior.models import Event, EventKind, Shopper
from behavior.volume_selectors import latest_event_time
from catalog.models import Category, Product
from placements.models import Placement, Rule, RuleKind, RuleState, Strength
from placements.rule_services import save_rule
from placements.whatif import WhatIfError, forget_replay_models, run_whatif

pytestmark = pytest.mark.django_db


def _draft(placement, **fields) -> Rule:
    fields.setdefault("state", RuleState.DRAFT)
    return save_rule(rule=Rule(name=fields.get("kind", "rule"), **fields), placements=[placement])


def _bury(placement, slug: str) -> Rule:
    category = Category.objects.get(slug=slug)
    return _draft(placement, kind=RuleKind.BURY, category=category, strength=Strength.STRONG)


def test_a_draft_burying_what_shoppers_went_on_to_buy_lowers_the_hit_rate_and_live_stays(home):
    # Each group's shoppers keep to their own category after the cut: burying two of the three
    # hides what two thirds of them went on to touch.
    mugs, plates = _bury(home, "mugs"), _bury(home, "plates")
    harmless = _draft(home, kind=RuleKind.BOOST, brand="No such brand", strength=Strength.WEAK)

    buried = run_whatif(placement=home, now=timezone.now(), days=14, rule_ids=[mugs.pk, plates.pk])
    untouched = run_whatif(placement=home, now=timezone.now(), days=14, rule_ids=[harmless.pk])

    live, drafts = buried.result["live"], buried.result["with_drafts"]
    assert buried.result["n_shoppers"] >= 30
    assert live["hit_rate"] > 0.3
    assert drafts["hit_rate"] < live["hit_rate"] - 0.1
    assert drafts["exposure"]["Mugs"] < live["exposure"]["Mugs"]
    change = buried.result["hit_rate_change"]
    assert change["high"] < 0  # the interval excludes no change: the sample can tell
    assert buried.result["summary"].startswith("This change costs")
    # Live is the same replay whichever drafts are tried, and the harmless one changes nothing.
    same = ("hit_rate", "ndcg", "coverage", "categories_per_list", "revenue")
    assert {key: untouched.result["live"][key] for key in same} == {key: live[key] for key in same}
    assert {s: lists[0] for s, lists in untouched.lists.items()} == {
        s: lists[0] for s, lists in buried.lists.items()
    }
    assert untouched.result["with_drafts"]["hit_rate"] == live["hit_rate"]
    assert untouched.result["summary"].startswith("This change leaves the hit rate as it is")


def test_events_after_the_cut_never_change_the_lists(home):
    home.exclude_bought = True
    home.save()
    _bury(home, "garden")
    first = run_whatif(placement=home, now=timezone.now())
    # Every replayed shopper buys the top of both of their lists after the cut (before the
    # newest event, so the window stays put), and the scratch models are fitted again.
    latest = latest_event_time()
    tops = {s: {lists[0][0], lists[1][0]} for s, lists in first.lists.items()}
    shoppers = dict(Shopper.objects.filter(external_id__in=tops).values_list("external_id", "pk"))
    products = dict(Product.objects.values_list("sku", "pk"))
    Event.objects.bulk_create(
        Event(
            event_id=f"later-{shopper}-{sku}",
            shopper_id=shoppers[shopper],
            product_id=products[sku],
            kind=EventKind.PURCHASE,
            occurred_at=latest - timedelta(minutes=5),
        )
        for shopper, skus in tops.items()
        for sku in skus
    )
    forget_replay_models()

    second = run_whatif(placement=home, now=timezone.now())

    assert second.cut == first.cut
    assert second.result["facts"]["models"]["reused"] is False
    assert second.lists == first.lists
    assert second.result["with_drafts"]["revenue"] > first.result["with_drafts"]["revenue"]


def test_a_second_what_if_on_the_same_day_reuses_the_fitted_models(home):
    _bury(home, "garden")

    first = run_whatif(placement=home, now=timezone.now(), max_shoppers=10)
    second = run_whatif(placement=home, now=timezone.now(), max_shoppers=10)

    assert first.result["facts"]["models"]["reused"] is False
    assert second.result["facts"]["models"]["reused"] is True
    assert second.lists == first.lists


def test_a_tiny_sample_says_there_are_too_few_shoppers_to_tell(home):
    _bury(home, "mugs")

    report = run_whatif(placement=home, now=timezone.now(), max_shoppers=5)

    assert report.result["n_shoppers"] == 5
    assert report.result["summary"].startswith("Too few shoppers to tell")
    assert set(report.result["facts"]["stage_seconds"]) >= {"fit models", "serve with drafts"}


@pytest.mark.parametrize("days", [0, 91])
def test_days_out_of_range_are_refused(home, days):
    _bury(home, "mugs")

    with pytest.raises(WhatIfError) as refused:
        run_whatif(placement=home, now=timezone.now(), days=days)

    assert refused.value.field == "days" and "between 1 and 90" in str(refused.value)


def test_a_placement_without_drafts_or_an_unknown_rule_is_refused(home):
    live = _draft(home, kind=RuleKind.BOOST, brand="x", strength="weak", state=RuleState.LIVE)

    with pytest.raises(WhatIfError, match="no draft rule") as no_drafts:
        run_whatif(placement=home, now=timezone.now())
    _bury(home, "mugs")
    with pytest.raises(WhatIfError, match=f"No draft rule {live.pk}") as not_a_draft:
        run_whatif(placement=home, now=timezone.now(), rule_ids=[live.pk])

    assert no_drafts.value.field == not_a_draft.value.field == "rule"


def test_a_product_page_placement_is_replayed_on_each_shoppers_latest_product(trained_shop):
    placement = Placement.objects.create(
        name="pdp-similar", title="Similar", strategy="similar", context="product", k=4
    )
    _bury(placement, "plates")

    report = run_whatif(placement=placement, now=timezone.now(), days=14)

    assert report.result["n_shoppers"] >= 30
    assert all(len(live) == 4 for live, _drafts in report.lists.values())
    assert (
        report.result["with_drafts"]["exposure"]["Plates"]
        < (report.result["live"]["exposure"]["Plates"])
    )


def test_without_a_trained_model_it_says_to_train_first(shop):
    placement = Placement.objects.create(name="bare", title="Bare", strategy="for_you")
    _bury(placement, "mugs")

    with pytest.raises(WhatIfError, match="train one before a what-if"):
        run_whatif(placement=placement, now=timezone.now())
