"""Rules in the admin: the placement checks run there too, and only publishers touch live rules."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from placements.models import Placement, Rule, RuleKind, RuleState

pytestmark = pytest.mark.django_db


@pytest.fixture
def placement(db) -> Placement:
    return Placement.objects.create(name="home", title="Home", k=4)


def test_a_pin_past_the_placements_k_is_refused_in_the_admin(admin_client, placement):
    response = admin_client.post(
        "/admin/placements/rule/add/",
        {
            "name": "Too far",
            "kind": RuleKind.PIN,
            "placements": [placement.pk],
            "state": RuleState.DRAFT,
            "priority": 0,
            "audience": "all",
            "brand": "Acme",
            "position": 5,
        },
    )

    assert response.status_code == 200
    assert "past home" in response.content.decode()
    assert not Rule.objects.exists()


def test_an_editor_without_the_publish_permission_cannot_change_a_live_rule(
    client, staff_user, placement
):
    staff_user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_rule", "change_rule", "add_rule"])
    )
    client.force_login(staff_user)
    live = Rule.objects.create(name="Live", kind=RuleKind.EXCLUDE, brand="x", state="live")
    draft = Rule.objects.create(name="Draft", kind=RuleKind.EXCLUDE, brand="x")

    live_page = client.get(f"/admin/placements/rule/{live.pk}/change/").content.decode()
    draft_page = client.get(f"/admin/placements/rule/{draft.pk}/change/").content.decode()

    assert 'name="name"' not in live_page  # read-only view
    assert 'name="name"' in draft_page and 'name="state"' not in draft_page
