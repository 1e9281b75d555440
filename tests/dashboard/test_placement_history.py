"""A placement's history page: every change to it and its rules, newest first, in words, and
"Revert to this version" behind the edit and publish permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from catalog.models import Product
from placements.history import HistoricalRule
from placements.models import Placement, Rule, RuleKind, RuleState
from placements.rule_services import publish_rule, save_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(shop) -> Placement:
    return Placement.objects.create(name="home", title="Home: for you", k=5)


@pytest.fixture
def pin(home) -> Rule:
    rule = Rule(name="Garden first", kind=RuleKind.PIN, position=1, priority=2)
    rule.product = Product.objects.get(sku="GAR-5")
    return save_rule(rule=rule, placements=[home])


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def _revert_url(rule_version) -> str:
    return f"/placements/home/history/rule/{rule_version.history_id}/revert/"


def test_the_history_says_who_changed_which_field_from_what_to_what(
    staff_client, staff_user, home, pin
):
    _grant(staff_user, "view_rule", "change_rule")
    data = {"name": "Garden first", "kind": "pin", "placements": [home.pk], "priority": 7}
    staff_client.post(
        f"/placements/home/rules/{pin.pk}/edit/",
        {**data, "audience": "all", "product": "GAR-5", "position": 1},
    )

    response = staff_client.get("/placements/home/history/")

    newest, created = response.context["changes"][0], response.context["changes"][1]
    assert (newest.action, newest.who, newest.subject) == ("changed", "merchandiser", pin.name)
    assert [(f.label, f.before, f.after) for f in newest.fields] == [("Priority", "2", "7")]
    assert created.action == "created"
    assert ("Product", "—", "GAR-5") in [(f.label, f.before, f.after) for f in created.fields]
    assert ("Placements", "—", "home") in [(f.label, f.before, f.after) for f in created.fields]
    assert "Priority: 2 → 7" in response.content.decode()


def test_the_history_is_paginated(staff_client, staff_user, home, pin):
    _grant(staff_user, "view_rule")
    for priority in range(25):
        pin.priority = priority
        save_rule(rule=pin, placements=[home])

    first = staff_client.get("/placements/home/history/")
    second = staff_client.get("/placements/home/history/", {"page": 2})

    assert len(first.context["changes"]) == 20
    assert len(second.context["changes"]) == 27 - 20  # the placement, the pin, 25 edits


def test_reverting_needs_the_edit_permission(staff_client, staff_user, home, pin):
    _grant(staff_user, "view_rule")
    version = pin.history.latest()
    pin.priority = 9
    save_rule(rule=pin, placements=[home])
    records = HistoricalRule.objects.count()

    refused = staff_client.post(_revert_url(version))
    _grant(staff_user, "change_rule")
    allowed = staff_client.post(_revert_url(version))

    assert refused.status_code == 403
    assert allowed.status_code == 302
    assert Rule.objects.get(pk=pin.pk).priority == 2
    assert HistoricalRule.objects.count() == records + 1


def test_reverting_to_a_live_version_needs_publish(staff_client, staff_user, home, pin):
    _grant(staff_user, "view_rule", "change_rule")
    publish_rule(rule=pin)
    live_version = pin.history.latest()
    pin.state = RuleState.DRAFT
    save_rule(rule=pin, placements=[home])

    refused = staff_client.post(_revert_url(live_version))
    state_after_refusal = Rule.objects.get(pk=pin.pk).state
    _grant(staff_user, "publish_rule")
    staff_client.post(_revert_url(live_version))

    assert refused.status_code == 403 and state_after_refusal == RuleState.DRAFT
    assert Rule.objects.get(pk=pin.pk).state == RuleState.LIVE


def test_a_revert_the_checks_refuse_stores_nothing(admin_client, home, pin):
    version = pin.history.latest()
    pin.priority = 9
    save_rule(rule=pin, placements=[home])
    Product.objects.filter(sku="GAR-5").update(is_active=False)
    records = HistoricalRule.objects.count()

    response = admin_client.post(_revert_url(version), follow=True)

    assert "was not reverted" in response.content.decode()
    assert Rule.objects.get(pk=pin.pk).priority == 9
    assert HistoricalRule.objects.count() == records


def test_a_placement_reverts_to_an_earlier_version(admin_client, home):
    version = home.history.latest()
    home.k, home.title = 8, "Changed"
    home.save()

    admin_client.post(f"/placements/home/history/placement/{version.history_id}/revert/")

    home.refresh_from_db()
    assert (home.k, home.title) == (5, "Home: for you")
    assert home.history.latest().history_change_reason.startswith("Reverted")


def test_a_rule_never_on_this_placement_cannot_be_reverted_from_its_page(admin_client, home):
    other = Placement.objects.create(name="cart", title="Cart", k=5)
    rule = save_rule(rule=Rule(name="Else", kind="exclude", brand="Acme"), placements=[other])

    response = admin_client.post(_revert_url(rule.history.latest()))

    assert response.status_code == 404


def test_an_unknown_kind_of_version_is_a_404(admin_client, home):
    assert admin_client.post("/placements/home/history/widget/1/revert/").status_code == 404
