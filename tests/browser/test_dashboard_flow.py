"""The merchandiser's path through the dashboard in a real browser (Debian's chromium).

Log in → overview → a shopper → simulate an event → "for you" changes → models → retrain →
the run reaches done. A screenshot of every page lands in test-artifacts/screenshots/, and any
console error or uncaught page error fails the test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connections

from recommender.models import TrainingRun

# Fresh champions, catalog and media root per test, as in the serving tests (autouse).
from tests.serving.conftest import _fresh_serving_state, build_shop, train  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def browser_page() -> Iterator:
    """A 1366×768 page in headless chromium, with console and page errors collected."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(15_000)
        page.errors = []
        page.on(
            "console",
            lambda message: message.type == "error" and page.errors.append(message.text),
        )
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        yield page
        # Django keeps connections per context (asgiref.Local) and Playwright's sync API switches
        # greenlets, each with its own context variables: the test's ORM calls inside this
        # block open a connection pytest-django never closes, and an open session stops the
        # test database from being dropped at the end of the run.
        connections.close_all()
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _shot(page, step: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{step}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_a_merchandiser_sees_a_click_change_for_you_and_retrains_the_models(
    live_server, browser_page, django_user_model
):
    build_shop()
    train("item_knn", "popularity", "trending")
    user = django_user_model.objects.create_user(
        username="merch", password="browser-test-pass-1", is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["add_trainingrun", "change_modelversion", "add_event"]
        )
    )
    page = browser_page

    # Log in: the dashboard opens on the overview.
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    _shot(page, "01-login")
    page.fill("#id_username", "merch")
    page.fill("#id_password", "browser-test-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Overview"
    page.wait_for_selector("canvas[data-drawn='1']")  # Chart.js drew the events chart
    _shot(page, "02-overview")

    # A shopper: every slot side by side.
    page.goto(f"{live_server.url}/shoppers/s-1/")
    for_you = page.locator("#slot-for_you .rec-title")
    before = for_you.all_inner_texts()
    assert before, "the shopper should have a for-you list"
    _shot(page, "03-shopper")

    # Simulate a view of the top recommendation: it leaves "for you", the list changes.
    first_sku = for_you.first.get_attribute("href").rstrip("/").rsplit("/", 1)[1]
    page.select_option("#id_kind", "view")
    page.fill("#id_sku", first_sku)
    page.click("#simulate button[type=submit]")
    page.wait_for_selector("text=“For you” changed")
    after = page.locator("#slot-for_you .rec-title").all_inner_texts()
    assert after != before and before[0] not in after
    assert page.locator("[data-testid=after] li.changed").count() > 0
    assert page.locator("#timeline tbody tr").first.inner_text().count("Viewed") == 1
    _shot(page, "04-shopper-after-simulate")

    # The other pages render cleanly too (screenshots for review).
    for step, path in [
        ("05-products", f"/products/{first_sku}/"),
        ("06-promotions", "/promotions/?shopper=s-0"),
        ("07-cold-start", "/cold-start/"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("h1").count() == 1
        _shot(page, step)

    # Models: retrain now; with eager tasks the run trains inside the POST.
    page.goto(f"{live_server.url}/models/")
    _shot(page, "08-models")
    # Picking another metric reloads the chart (a data-autosubmit select: no inline handler).
    other = page.locator("select[name=metric] option:not([selected])").first.get_attribute("value")
    page.select_option("select[name=metric]", other)
    page.wait_for_url(re.compile(r"/models/\?metric="))
    assert page.locator("select[name=metric]").input_value() == other
    runs_before = TrainingRun.objects.count()
    page.click("text=Retrain now")
    page.wait_for_url(re.compile(r"/models/#run-\d+$"))
    run = TrainingRun.objects.order_by("-id").first()
    assert TrainingRun.objects.count() == runs_before + 1
    row = page.locator(f"#run-{run.pk}")
    assert row.locator("[data-testid=run-status]").inner_text() == "Succeeded"
    assert row.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
    assert f"Training run #{run.pk} finished: Succeeded." in page.locator(".messages").inner_text()
    _shot(page, "09-models-after-retrain")

    assert page.errors == []
