"""The placement page: rules in the order they apply, a preview before and after the drafts
with each item's marks, and publishing as a permission of its own."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from catalog.models import Product
from placements.models import Placement, Rule, RuleKind, RuleState
from placements.rule_services import save_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(shop) -> Placement:
    placement = Placement.objects.create(name="home", title="Home: for you", k=5)
    pin = Rule(
        name="Garden first", kind=RuleKind.PIN, position=1, product=Product.objects.get(sku="GAR-5")
    )
    save_rule(rule=pin, placements=[placement])
    bury = Rule(
        name="Less mugs", kind=RuleKind.BURY, strength="weak", brand="Acme", state=RuleState.LIVE
    )
    save_rule(rule=bury, placements=[placement])
    return placement


@pytest.fixture(autouse=True)
def _may_view(staff_user) -> None:
    _grant(staff_user, "view_rule")


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def test_the_page_lists_rules_in_the_order_they_apply(staff_client, home):
    page = staff_client.get("/placements/home/").content.decode()

    assert page.index("Less mugs") < page.index("Garden first")  # bury before pins
    assert "draft" in page and "live" in page


def test_the_preview_shows_the_list_before_and_after_the_drafts_with_marks(staff_client, home):
    response = staff_client.get("/placements/home/", {"shopper": "s-0"})

    live, drafted = response.context["preview"].live, response.context["preview"].with_drafts
    assert live.items[0].recommendation.product.sku != "GAR-5"
    assert drafted.items[0].recommendation.product.sku == "GAR-5"
    assert drafted.items[0].marks == ("pinned",)
    assert "pinned" in response.content.decode()


def test_a_placement_needing_a_product_says_so_in_the_preview(staff_client, shop):
    Placement.objects.create(name="pdp", title="PDP", strategy="similar", context="product")

    response = staff_client.get("/placements/pdp/", {"shopper": "s-0"})

    assert response.context["preview"] is None
    assert "product" in response.context["form"].errors


def test_publishing_needs_its_own_permission(staff_client, staff_user, home):
    rule = Rule.objects.get(name="Garden first")
    _grant(staff_user, "change_rule")
    url = f"/placements/home/rules/{rule.pk}/publish/"

    refused = staff_client.post(url)
    _grant(staff_user, "publish_rule")
    published = staff_client.post(url)

    assert refused.status_code == 403
    assert published.status_code == 302
    assert Rule.objects.get(pk=rule.pk).state == RuleState.LIVE


def test_the_publish_button_shows_only_to_those_who_may_publish(staff_client, staff_user, home):
    assert "Publish</button>" not in staff_client.get("/placements/home/").content.decode()

    _grant(staff_user, "publish_rule")

    assert "Publish</button>" in staff_client.get("/placements/home/").content.decode()


def test_the_placements_list_links_each_placement(staff_client, home):
    assert 'href="/placements/home/"' in staff_client.get("/placements/").content.decode()


def test_an_unknown_placement_is_a_404(staff_client, shop):
    assert staff_client.get("/placements/nowhere/").status_code == 404
