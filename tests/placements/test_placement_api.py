"""GET /api/v1/placements/<name>/recommendations: a placement's slot, exclusions, caps and
fallback, with strict input."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from behavior.models import Event, EventKind
from placements.models import Context, Placement

pytestmark = pytest.mark.django_db

URL = "/api/v1/placements/{}/recommendations"


def _get(api, name: str = "home-for-you", **params) -> dict:
    response = api.get(URL.format(name), params)
    assert response.status_code == 200, response.content
    return response.json()


def _skus(body: dict) -> list[str]:
    return [r["product"]["sku"] for r in body["results"]]


def test_a_placement_serves_its_k_items_from_its_slot(api, home):
    body = _get(api, shopper="s-0")

    assert body["placement"] == "home-for-you" and body["strategy"] == "for_you"
    assert body["count"] == 5
    assert body["shopper"] == {"external_id": "s-0", "known": True}
    assert all(r["marks"] == [] for r in body["results"])


def test_a_request_may_ask_for_another_k(api, home):
    assert _get(api, shopper="s-0", k=3)["count"] == 3


def test_an_unknown_placement_is_a_404(api, home):
    assert api.get(URL.format("nowhere")).status_code == 404


def test_a_switched_off_placement_is_a_404(api, home):
    Placement.objects.update(is_active=False)

    assert api.get(URL.format("home-for-you")).status_code == 404


def test_it_needs_an_authenticated_client(home):
    assert APIClient().get(URL.format("home-for-you")).status_code in (401, 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"k": 0}, "k"), ({"k": "five"}, "k"), ({"cart": ",".join(["A"] * 51)}, "cart")],
)
def test_bad_parameters_are_a_400_naming_the_field(api, home, params, field):
    response = api.get(URL.format("home-for-you"), params)

    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == field


def test_products_in_the_cart_and_the_page_product_are_never_shown(api, home):
    shown = _skus(_get(api, shopper="s-0", k=10))

    body = _get(api, shopper="s-0", k=10, cart=",".join(shown[:3]), product=shown[3])

    assert not set(shown[:4]) & set(_skus(body))
    assert body["count"] == 10


def test_an_unknown_page_product_is_a_404(api, home):
    assert api.get(URL.format("home-for-you"), {"product": "NOPE"}).status_code == 404


def test_already_bought_products_are_excluded_when_the_placement_says_so(api, trained_shop):
    Placement.objects.create(
        name="again",
        title="Again",
        strategy="buy_again",
        k=5,
        exclude_bought=True,
        fallback=["trending"],
    )
    bought = set(
        Event.objects.filter(shopper__external_id="s-0", kind=EventKind.PURCHASE).values_list(
            "product__sku", flat=True
        )
    )

    body = _get(api, "again", shopper="s-0")

    assert bought and not bought & set(_skus(body))
    assert body["count"] == 5  # trending fills what buy-again could not


def test_the_category_cap_keeps_the_list_diverse(api, home):
    Placement.objects.update(max_per_category=1)

    body = _get(api, shopper="s-0", k=3)

    assert len({r["product"]["category"] for r in body["results"]}) == 3


def test_the_fallback_chain_fills_an_empty_slot(api, trained_shop):
    Placement.objects.create(
        name="points", title="Points", strategy="points", k=4, fallback=["trending"]
    )

    body = _get(api, "points", shopper="s-0")  # s-0 has no points: the slot itself is empty

    assert body["count"] == 4
    assert all(r["source"] != "points" for r in body["results"])


def test_a_product_page_placement_needs_its_product(api, trained_shop):
    Placement.objects.create(
        name="pdp-similar", title="Similar", strategy="similar", k=4, context=Context.PRODUCT
    )

    missing = api.get(URL.format("pdp-similar"))
    body = _get(api, "pdp-similar", product="MUG-0")

    assert missing.status_code == 400 and missing.json()["errors"][0]["attr"] == "product"
    assert body["product"] == "MUG-0" and "MUG-0" not in _skus(body)
    assert body["count"] == 4


def test_a_cart_placement_is_about_the_carts_last_item(api, trained_shop):
    Placement.objects.create(
        name="cart", title="Cart", strategy="bought_together", k=3, context=Context.CART
    )

    body = _get(api, "cart", cart="PLA-1,MUG-2")

    assert body["product"] == "MUG-2"
    assert not {"PLA-1", "MUG-2"} & set(_skus(body))


def test_a_minimum_relevance_of_one_keeps_only_the_best_and_falls_back(api, home):
    Placement.objects.update(min_relevance=1.0, fallback=["trending"])

    body = _get(api, shopper="s-0")

    assert body["count"] == 5
    assert len(body["sources"]) >= 2  # the slot's best, then the fallback's


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"strategy": "nope"}, "strategy"),
        ({"strategy": "similar"}, "context"),
        ({"fallback": ["nope"]}, "fallback"),
        ({"fallback": ["for_you"]}, "fallback"),
        ({"fallback": "trending"}, "fallback"),
        ({"k": 0}, "k"),
        ({"min_relevance": 1.5}, "min_relevance"),
    ],
)
def test_a_placement_set_up_wrong_is_refused_with_the_field(db, fields, error):
    placement = Placement(name="p", title="P", **fields)

    with pytest.raises(ValidationError) as refused:
        placement.full_clean()

    assert error in refused.value.message_dict


def test_the_api_serves_live_rules_with_their_marks_and_ignores_drafts(api, home):
    from catalog.models import Product
    from placements.models import Rule, RuleKind, RuleState
    from placements.rule_services import save_rule

    pin = {"kind": RuleKind.PIN, "position": 1}
    gar6 = Product.objects.get(sku="GAR-6")
    draft = Rule(name="draft", state=RuleState.DRAFT, product=gar6, **pin)
    save_rule(rule=draft, placements=[home])
    live = Rule(name="live", state=RuleState.LIVE, product=Product.objects.get(sku="GAR-5"), **pin)
    save_rule(rule=live, placements=[home])

    first = _get(api, shopper="s-0")["results"][0]

    assert first["product"]["sku"] == "GAR-5" and first["marks"] == ["pinned"]


def test_a_placement_answer_carries_a_fresh_id_positions_and_one_impression(api, home):
    from recommender.models import Impression
    from recommender.proof.drain import drain_impressions

    first = _get(api, shopper="s-0")
    again = _get(api, shopper="s-0")

    assert first["recommendation_id"] != again["recommendation_id"]
    assert uuid.UUID(first["recommendation_id"]).version == 7
    assert [r["position"] for r in first["results"]] == list(range(1, first["count"] + 1))
    assert not Impression.objects.exists()  # the request wrote nothing to the database
    drain_impressions()
    shown = Impression.objects.get(pk=first["recommendation_id"])
    assert (shown.placement, shown.shopper) == ("home-for-you", "s-0")
    assert len(shown.items) == first["count"]


def test_the_placement_and_its_live_rules_are_read_once_and_again_after_any_change(api, home):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalog.models import Product
    from placements.models import Rule, RuleKind, RuleState

    def placement_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            body = _get(api, shopper="s-0")
        return sum("placements_" in q["sql"] for q in queries.captured_queries), body

    assert placement_queries()[0] > 0
    assert placement_queries()[0] == 0  # memoised under the setup version

    # A write straight through the ORM (as the admin does) still moves the version.
    pin = Rule.objects.create(
        name="pin", kind=RuleKind.PIN, position=1, state=RuleState.LIVE,
        product=Product.objects.get(sku="GAR-5"),
    )  # fmt: skip
    pin.placements.add(home)
    count, body = placement_queries()
    assert count > 0 and body["results"][0]["product"]["sku"] == "GAR-5"

    home.is_active = False
    home.save()
    assert api.get(URL.format("home-for-you"), {"shopper": "s-0"}).status_code == 404


def test_the_impression_records_which_items_each_live_rule_placed(api, home):
    from catalog.models import Product
    from placements.models import Rule, RuleKind, RuleState
    from placements.rule_services import save_rule
    from recommender.models import Impression
    from recommender.proof.drain import drain_impressions

    gar5 = Product.objects.get(sku="GAR-5")
    pin = Rule(name="pin", state=RuleState.LIVE, kind=RuleKind.PIN, position=1, product=gar5)
    save_rule(rule=pin, placements=[home])

    body = _get(api, shopper="s-0")
    drain_impressions()

    shown = Impression.objects.get(pk=body["recommendation_id"])
    assert shown.rules == {str(pin.pk): [gar5.pk]}
    unmarked = [r for r in body["results"] if not r["marks"]]
    assert unmarked and all(r["product"]["sku"] != "GAR-5" for r in unmarked)
