"""The audit log: one record per change from the admin, the dashboard and the ORM, with the
user; a revert restores fields and placements, is itself recorded, and the API serves it at
once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from catalog.models import Product
from placements.history import HistoricalRule, placement_changes
from placements.models import Placement, Rule, RuleKind, RuleState
from placements.rule_services import publish_rule, save_rule

pytestmark = pytest.mark.django_db

URL = "/api/v1/placements/home-for-you/recommendations"


def _skus(api) -> list[str]:
    response = api.get(URL, {"shopper": "s-0"})
    assert response.status_code == 200, response.content
    return [r["product"]["sku"] for r in response.json()["results"]]


def _pin(placement: Placement, sku: str, **fields) -> Rule:
    rule = Rule(name="Pin", kind=RuleKind.PIN, position=1, product=Product.objects.get(sku=sku))
    for name, value in fields.items():
        setattr(rule, name, value)
    return save_rule(rule=rule, placements=[placement])


def test_an_orm_write_is_recorded_without_a_user(home):
    rule = Rule.objects.create(name="Scripted", kind=RuleKind.EXCLUDE, brand="Acme")
    rule.placements.add(home)

    records = HistoricalRule.objects.filter(id=rule.pk).order_by("history_date")

    assert [r.history_type for r in records] == ["+", "~"]
    assert records.last().history_user is None
    assert [row.placement_id for row in records.last().placements.all()] == [home.pk]


def test_a_rule_saved_through_the_service_is_one_record_with_its_placements(home):
    rule = _pin(home, "GAR-5")

    record = HistoricalRule.objects.get(id=rule.pk)

    assert record.history_type == "+"
    assert [row.placement_id for row in record.placements.all()] == [home.pk]


def test_an_admin_save_is_one_record_by_the_signed_in_user(admin_client, admin_user, home):
    response = admin_client.post(
        "/admin/placements/rule/add/",
        {
            "name": "No Acme",
            "kind": RuleKind.EXCLUDE,
            "placements": [home.pk],
            "state": RuleState.DRAFT,
            "priority": 0,
            "audience": "all",
            "brand": "Acme",
        },
    )

    assert response.status_code == 302
    record = HistoricalRule.objects.get(name="No Acme")
    assert record.history_user == admin_user
    assert [row.placement_id for row in record.placements.all()] == [home.pk]


def test_the_admin_shows_a_rules_history(admin_client, home):
    rule = _pin(home, "GAR-5")

    page = admin_client.get(f"/admin/placements/rule/{rule.pk}/history/")

    assert page.status_code == 200
    assert "Pin" in page.content.decode()


def test_a_view_only_user_cannot_revert_a_placement_in_the_admin(client, staff_user, home):
    staff_user.user_permissions.add(*Permission.objects.filter(codename="view_placement"))
    client.force_login(staff_user)
    home.k = 7
    home.save()
    first = home.history.order_by("history_date").first()

    response = client.post(
        f"/admin/placements/placement/{home.pk}/history/{first.history_id}/",
        {"name": "home-for-you", "title": "Hacked", "strategy": "for_you", "k": 5},
    )

    assert response.status_code == 403
    assert Placement.objects.get(pk=home.pk).title == "Home: for you"


def test_reverting_a_published_rule_changes_the_api_answer_back(api, admin_client, home):
    before = _skus(api)
    rule = _pin(home, "GAR-5")
    draft_version = rule.history.latest().history_id
    publish_rule(rule=rule)
    assert _skus(api)[0] == "GAR-5"

    response = admin_client.post(f"/placements/home-for-you/history/rule/{draft_version}/revert/")

    assert response.status_code == 302
    assert Rule.objects.get(pk=rule.pk).state == RuleState.DRAFT
    assert _skus(api) == before


def test_a_revert_restores_fields_and_placements_and_is_recorded(admin_client, admin_user, home):
    other = Placement.objects.create(name="cart", title="Cart", k=5)
    rule = _pin(home, "GAR-5", priority=3)
    version = rule.history.latest()
    rule.priority = 9
    save_rule(rule=rule, placements=[other])

    admin_client.post(f"/placements/home-for-you/history/rule/{version.history_id}/revert/")

    restored = Rule.objects.get(pk=rule.pk)
    assert restored.priority == 3
    assert list(restored.placements.all()) == [home]
    latest = restored.history.latest()
    assert latest.history_user == admin_user
    assert latest.history_change_reason.startswith("Reverted to the version of")


def test_a_deleted_rule_comes_back_with_its_placements(api, admin_client, home):
    rule = _pin(home, "GAR-5", state=RuleState.LIVE)
    version, rule_id = rule.history.latest(), rule.pk
    rule.delete()
    assert "GAR-5" not in _skus(api)[:1]

    admin_client.post(f"/placements/home-for-you/history/rule/{version.history_id}/revert/")

    assert list(Rule.objects.get(pk=rule_id).placements.all()) == [home]
    assert _skus(api)[0] == "GAR-5"


def test_the_placement_history_holds_its_own_and_its_rules_changes_newest_first(home):
    rule = _pin(home, "GAR-5")
    home.k = 8
    home.save()
    rule.delete()

    rows = list(placement_changes(placement=home))

    assert [kind for _, kind, _ in rows] == ["rule", "placement", "rule", "placement"]
    assert rows == sorted(rows, key=lambda row: row[2], reverse=True)


def test_rules_are_not_reverted_through_the_admin(admin_client, home):
    rule = _pin(home, "GAR-5")
    version = rule.history.latest()

    response = admin_client.post(
        f"/admin/placements/rule/{rule.pk}/history/{version.history_id}/", {"name": "Back"}
    )

    assert response.status_code == 403
    assert Rule.objects.get(pk=rule.pk).name == "Pin"
