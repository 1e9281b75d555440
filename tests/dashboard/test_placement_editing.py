"""Editing rules and placements on the dashboard: forms that refuse with the field and store
nothing, drafts first, and the view / edit / publish boundaries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from catalog.models import Product
from placements.history import HistoricalPlacement, HistoricalRule
from placements.models import Placement, Rule, RuleKind, RuleState
from placements.rule_services import save_rule

pytestmark = pytest.mark.django_db

EDITOR = ("view_rule", "add_rule", "change_rule", "delete_rule", "change_placement")


@pytest.fixture
def home(shop) -> Placement:
    return Placement.objects.create(name="home", title="Home: for you", k=5)


@pytest.fixture
def live_pin(home) -> Rule:
    pin = Rule(
        name="Garden first",
        kind=RuleKind.PIN,
        position=1,
        product=Product.objects.get(sku="GAR-5"),
        state=RuleState.LIVE,
    )
    return save_rule(rule=pin, placements=[home])


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def _rule_data(home: Placement, **fields) -> dict:
    data = {"name": "No Acme", "kind": "exclude", "placements": [home.pk], "priority": 0}
    return {**data, "audience": "all", "brand": "Acme", **fields}


def _history_size() -> int:
    return HistoricalRule.objects.count() + HistoricalPlacement.objects.count()


def test_an_editor_adds_a_rule_that_starts_as_a_draft(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)

    response = staff_client.post("/placements/home/rules/new/", _rule_data(home, state="live"))

    assert response.status_code == 302
    rule = Rule.objects.get(name="No Acme")
    assert rule.state == RuleState.DRAFT
    assert list(rule.placements.all()) == [home]
    assert rule.history.get().history_user == staff_user


def test_a_refused_rule_names_the_field_and_stores_nothing(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)
    before = _history_size()

    response = staff_client.post(
        "/placements/home/rules/new/",
        _rule_data(home, kind="pin", brand="", product="GAR-5", position=6),
    )

    assert response.status_code == 400
    assert "past home" in response.context["form"].errors["position"][0]
    assert not Rule.objects.exists()
    assert _history_size() == before


def test_a_pin_to_an_unknown_sku_is_refused_on_the_product_field(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)

    response = staff_client.post(
        "/placements/home/rules/new/", _rule_data(home, kind="pin", brand="", product="NOPE")
    )

    assert "No product has this sku." in response.context["form"].errors["product"]
    assert not Rule.objects.exists()


def test_a_refused_edit_leaves_the_rule_and_its_history_as_they_were(
    staff_client, staff_user, home
):
    _grant(staff_user, *EDITOR)
    rule = save_rule(rule=Rule(name="No Acme", kind="exclude", brand="Acme"), placements=[home])
    before = _history_size()

    response = staff_client.post(
        f"/placements/home/rules/{rule.pk}/edit/", _rule_data(home, name="Renamed", brand="")
    )

    assert response.status_code == 400
    assert "kind" in response.context["form"].errors
    assert Rule.objects.get(pk=rule.pk).name == "No Acme"
    assert _history_size() == before


def test_an_edit_keeps_the_state_and_is_recorded(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)
    rule = save_rule(rule=Rule(name="No Acme", kind="exclude", brand="Acme"), placements=[home])

    staff_client.post(f"/placements/home/rules/{rule.pk}/edit/", _rule_data(home, priority=4))

    rule.refresh_from_db()
    assert (rule.priority, rule.state) == (4, RuleState.DRAFT)
    assert rule.history.latest().history_user == staff_user


@pytest.mark.parametrize("action", ["edit", "delete"])
def test_changing_a_live_rule_needs_publish_too(staff_client, staff_user, live_pin, action):
    _grant(staff_user, *EDITOR)
    url = f"/placements/home/rules/{live_pin.pk}/{action}/"

    refused = staff_client.post(url, _rule_data(live_pin.placements.get(), name="Changed"))
    _grant(staff_user, "publish_rule")
    page = staff_client.get(url)

    assert refused.status_code == 403
    assert Rule.objects.get(pk=live_pin.pk).name == "Garden first"
    assert page.status_code == 200


def test_an_editor_deletes_a_draft(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)
    rule = save_rule(rule=Rule(name="No Acme", kind="exclude", brand="Acme"), placements=[home])

    response = staff_client.post(f"/placements/home/rules/{rule.pk}/delete/")

    assert response.status_code == 302
    assert not Rule.objects.exists()
    assert HistoricalRule.objects.latest().history_type == "-"


def test_unpublishing_needs_publish_and_makes_a_draft(staff_client, staff_user, live_pin):
    _grant(staff_user, *EDITOR)
    url = f"/placements/home/rules/{live_pin.pk}/unpublish/"

    refused = staff_client.post(url)
    state_after_refusal = Rule.objects.get(pk=live_pin.pk).state
    _grant(staff_user, "publish_rule")
    staff_client.post(url)

    assert refused.status_code == 403 and state_after_refusal == RuleState.LIVE
    assert Rule.objects.get(pk=live_pin.pk).state == RuleState.DRAFT


def test_a_draft_whose_pin_went_out_of_stock_is_not_published_and_says_why(
    staff_client, staff_user, home
):
    _grant(staff_user, *EDITOR, "publish_rule")
    product = Product.objects.get(sku="GAR-5")
    draft = save_rule(
        rule=Rule(name="Garden first", kind=RuleKind.PIN, position=1, product=product),
        placements=[home],
    )
    Product.objects.filter(pk=product.pk).update(stock=0)

    response = staff_client.post(f"/placements/home/rules/{draft.pk}/publish/", follow=True)

    assert Rule.objects.get(pk=draft.pk).state == RuleState.DRAFT
    assert "Garden first was not published:" in response.content.decode()


def test_an_editor_changes_a_placements_settings(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)
    data = {
        "title": "Home",
        "strategy": "trending",
        "k": 8,
        "context": "shopper",
        "min_relevance": 0,
    }

    response = staff_client.post("/placements/home/edit/", {**data, "fallback": "[]"})

    assert response.status_code == 302
    home.refresh_from_db()
    assert (home.strategy, home.k, home.name) == ("trending", 8, "home")
    assert home.history.latest().history_user == staff_user


def test_a_k_below_a_rules_position_is_refused(staff_client, staff_user, home):
    _grant(staff_user, *EDITOR)
    pin = Rule(name="Fifth", kind="pin", position=5, product=Product.objects.get(sku="GAR-5"))
    save_rule(rule=pin, placements=[home])
    data = {
        "title": "Home",
        "strategy": "for_you",
        "k": 3,
        "context": "shopper",
        "min_relevance": 0,
    }

    response = staff_client.post("/placements/home/edit/", {**data, "fallback": "[]"})

    assert response.status_code == 400
    assert "Fifth" in response.context["form"].errors["k"][0]
    assert Placement.objects.get(pk=home.pk).k == 5


def test_a_read_only_merchandiser_sees_and_previews_but_changes_nothing(
    staff_client, staff_user, home, live_pin
):
    _grant(staff_user, "view_rule")
    before = _history_size()

    pages = [
        staff_client.get(url).status_code
        for url in ("/placements/", "/placements/home/", "/placements/home/history/")
    ]
    preview = staff_client.get("/placements/home/", {"shopper": "s-0"})
    writes = [
        staff_client.post(url, _rule_data(home)).status_code
        for url in (
            "/placements/home/rules/new/",
            f"/placements/home/rules/{live_pin.pk}/edit/",
            f"/placements/home/rules/{live_pin.pk}/delete/",
            f"/placements/home/rules/{live_pin.pk}/unpublish/",
            "/placements/home/edit/",
            f"/placements/home/history/rule/{live_pin.history.latest().history_id}/revert/",
        )
    ]

    assert pages == [200, 200, 200]
    assert preview.context["preview"].live.items[0].recommendation.product.sku == "GAR-5"
    assert writes == [403] * 6
    assert Rule.objects.get().name == "Garden first" and Rule.objects.get().is_live
    assert _history_size() == before


def test_staff_without_the_view_permission_get_403(staff_client, home):
    assert staff_client.get("/placements/").status_code == 403
    assert staff_client.get("/placements/home/history/").status_code == 403
