"""A merchandiser steers a placement in a real browser (Debian's chromium), issue #15's bar.

Placements → the placement → a new pin rule (a draft) → preview as a shopper (the draft's mark
only in the "with drafts" list) → the what-if on the last 14 days (eager task) → publish → the
API serves the pin → History → revert to the draft version → the API answers as before. A
screenshot of every step lands in test-artifacts/screenshots/placements-*.png, and any console
error or uncaught page error fails the test.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission

from behavior.models import Event
from catalog.models import Product
from placements.models import Placement, Rule, RuleState
from placements.whatif import forget_replay_models
from tests.browser.test_dashboard_flow import CHROMIUM, _shot, browser_page  # noqa: F401
from tests.conftest import api_client
from tests.serving.conftest import _fresh_serving_state, build_shop, train  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]

SHOPPER = "s-0"  # taste group "mugs": a garden product is nowhere near its list
API_URL = "/api/v1/placements/home-for-you/recommendations"
# View, edit (add/change/delete rules, change the placement) and publish.
MERCHANDISER_PERMISSIONS = [
    "view_rule",
    "add_rule",
    "change_rule",
    "delete_rule",
    "change_placement",
    "publish_rule",
]


@pytest.fixture(autouse=True)
def _no_kept_replay_models():
    forget_replay_models()
    yield
    forget_replay_models()


def _shot_form(page, step: str) -> None:
    """A full-page screenshot of a filled form. The field still focused is blurred first:
    headless chromium, capturing a page taller than the window with a field focused, scrolls
    back to that field on the next mouse press, so the next click lands elsewhere."""
    page.evaluate("document.activeElement.blur()")
    _shot(page, step)


def _log_in(page, base_url: str, django_user_model) -> None:
    user = django_user_model.objects.create_user(
        username="merch", password="browser-test-pass-1", is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="placements", codename__in=MERCHANDISER_PERMISSIONS
        )
    )
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", "merch")
    page.fill("#id_password", "browser-test-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def _api_skus(api) -> list[str]:
    response = api.get(API_URL, {"shopper": SHOPPER})
    assert response.status_code == 200, response.content
    return [item["product"]["sku"] for item in response.json()["results"]]


def _a_product_the_model_would_not_show(live: list[str]) -> str:
    """A garden product the shopper never touched and the live list leaves out."""
    touched = set(
        Event.objects.filter(shopper__external_id=SHOPPER).values_list("product__sku", flat=True)
    )
    garden = Product.objects.filter(category__slug="garden").order_by("sku")
    return next(p.sku for p in garden if p.sku not in touched and p.sku not in live)


@pytest.mark.django_db(transaction=True)
def test_a_merchandiser_creates_previews_tries_publishes_and_undoes_a_pin(
    live_server,
    browser_page,  # noqa: F811
    django_user_model,
):
    build_shop()
    train("item_knn", "popularity", "trending")
    Placement.objects.create(
        name="home-for-you", title="Home: for you", strategy="for_you", k=5
    ).full_clean()
    api = api_client()
    before = _api_skus(api)
    pinned = _a_product_the_model_would_not_show(before)
    page = browser_page
    base = live_server.url
    _log_in(page, base, django_user_model)

    # 1. The placements list, then the placement's page: no rule yet.
    page.goto(f"{base}/placements/")
    page.wait_for_selector("a[href='/placements/home-for-you/']")
    _shot(page, "placements-1-list")
    page.click("a[href='/placements/home-for-you/']")
    page.wait_for_url(f"{base}/placements/home-for-you/")
    assert page.locator("h1").inner_text() == "Home: for you"
    assert "No rule: the model alone decides." in page.locator("section.card").first.inner_text()
    _shot(page, "placements-2-placement")

    # 2. A new rule through the dashboard form: the garden product pinned at position 1.
    page.click("text=Add a rule")
    page.wait_for_url(f"{base}/placements/home-for-you/rules/new/")
    page.fill("#id_name", "Garden push")
    page.select_option("#id_kind", "pin")
    page.fill("#id_product", pinned)
    page.fill("#id_position", "1")
    _shot_form(page, "placements-3-rule-form")
    page.click("button:has-text('Save as draft')")
    page.wait_for_url(f"{base}/placements/home-for-you/")
    assert "Garden push is saved as a draft." in page.locator(".messages").inner_text()
    rule = Rule.objects.get(name="Garden push")
    assert rule.state == RuleState.DRAFT and rule.product.sku == pinned and rule.position == 1
    rule_row = page.locator("tr", has=page.locator(f"a[href$='/rules/{rule.pk}/edit/']"))
    assert rule_row.locator(".badge").inner_text() == "draft"
    _shot(page, "placements-4-draft-saved")

    # 3. Preview as the shopper: the pin shows only in the list with the drafts.
    page.fill("#id_shopper", SHOPPER)
    page.click("button:has-text('Preview')")
    page.wait_for_selector("h3:has-text('With the draft rules')")
    live_list, draft_list = page.locator(".grid.two-up > div").all()
    draft_first = draft_list.locator("ol.reclist > li").first
    assert draft_first.locator(".mark").all_inner_texts() == ["pinned"]
    # The mark is a badge as wide as its word (it stretched across the list).
    assert draft_first.locator(".mark").bounding_box()["width"] < 120
    assert draft_first.locator(".rec-title").get_attribute("href").endswith(f"/{pinned}/")
    assert live_list.locator(".mark").count() == 0
    live_skus = [
        href.rstrip("/").rsplit("/", 1)[1]
        for href in live_list.locator(".rec-title").evaluate_all("els => els.map(e => e.href)")
    ]
    assert live_skus == before  # the live preview is what the API serves
    _shot(page, "placements-5-preview")

    # 4. The what-if on the last 14 days: eager here, so the POST returns with it finished.
    page.fill("#id_days", "14")
    page.click("button:has-text('Run the what-if')")
    page.wait_for_url(re.compile(r"/placements/home-for-you/#whatif$"))
    table = page.wait_for_selector("[data-testid=whatif-table]")
    rows = table.inner_text()
    for metric in ("Hit rate@5", "NDCG@5", "Catalog coverage", "Revenue of products shown"):
        assert metric in rows
    summary = page.locator("[data-testid=whatif-summary]").inner_text()
    assert summary.strip()
    beside = page.locator("[data-testid=whatif-beside-publish]").inner_text()
    assert summary.split(" (")[0] in beside  # the sentence stands beside the draft's Publish
    assert page.locator("#id_days").input_value() == "14"  # as the heading says
    # The draft's tick box sits on its name's line (it was stretched, on a line of its own).
    tick = page.locator("#whatif fieldset input[type=checkbox]").bounding_box()
    name = page.locator("#whatif fieldset label").bounding_box()
    assert tick["width"] < 30 and name["height"] < 2 * tick["height"] + 8, (tick, name)
    page.locator("#whatif").scroll_into_view_if_needed()
    _shot(page, "placements-6-whatif")

    # 5. Publish the draft.
    rule_row.locator("button:has-text('Publish')").click()
    page.wait_for_selector(".messages >> text=Garden push is live from the next request.")
    assert rule_row.locator(".badge").inner_text() == "live"
    _shot(page, "placements-7-published")

    # 6. The API now serves the pin at position 1, marked.
    response = api.get(API_URL, {"shopper": SHOPPER})
    published = response.json()["results"]
    assert published[0]["product"]["sku"] == pinned and published[0]["marks"] == ["pinned"]
    assert [item["product"]["sku"] for item in published] != before

    # 7. History: revert the rule to the version it was created as (a draft).
    page.click("a:has-text('History')")
    page.wait_for_url(f"{base}/placements/home-for-you/history/")
    created = page.locator("tbody tr", has_text="“Garden push” created")
    assert created.count() == 1
    _shot(page, "placements-8-history")
    created.locator("button:has-text('Revert to this version')").click()
    page.wait_for_selector(".messages >> text=Garden push is back as it was")
    newest = page.locator("tbody tr").first.inner_text()
    assert "Reverted to the version of" in newest
    _shot(page, "placements-9-reverted")
    rule.refresh_from_db()
    assert rule.state == RuleState.DRAFT

    # 8. The API answers as before the publish.
    assert _api_skus(api) == before

    assert page.errors == [], "\n".join(page.errors)
