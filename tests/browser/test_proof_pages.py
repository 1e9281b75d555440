"""The proof pages in a real browser after simulated traffic: the KPIs and an A/B test's results.

A small trained shop whose shoppers declare their tastes, a placement with an A/B test running
(control against a holdout), three simulated days of those shoppers through the real API
(``demo.simulation``, in process, asking the placement), the impressions drained and the KPIs
refreshed as the worker would. Then /kpis/ and the experiment's page must show figures; their
screenshots (proof-kpis.png, proof-experiment.png) are the closing note's.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from demo.simulation import in_process_api, simulate_traffic, store_simulated_days
from placements.experiments.services import Plan, VariantSpec, create_experiment, start_experiment
from placements.models import Placement
from tests.browser.test_dashboard_flow import CHROMIUM, _shot, browser_page  # noqa: F401
from tests.serving.conftest import _fresh_serving_state, build_shop, train  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]

DAYS = 3
# True when the control badge's box starts on the line of the variant name before it.
BADGE_BESIDE_NAME = """() => {
  const badge = document.querySelector("#results-table .badge");
  const name = document.createRange();
  name.selectNodeContents(badge.parentElement.firstChild);
  const line = name.getBoundingClientRect(), box = badge.getBoundingClientRect();
  return box.top < line.bottom && box.bottom > line.top;
}"""


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


@pytest.mark.django_db(transaction=True)
def test_after_simulated_traffic_the_kpis_and_the_experiment_page_show_figures(
    live_server,
    browser_page,  # noqa: F811
    django_user_model,
):
    shop = build_shop()
    train("item_knn", "popularity", "trending")
    for n, shopper in enumerate(shop["shoppers"]):  # shopper i browses taste group i % 3
        shopper.interests.add(shop["categories"][n % 3])
    Placement.objects.create(name="home-for-you", title="Home: for you", strategy="for_you", k=5)
    now = timezone.now()
    start = now - timedelta(days=DAYS)
    experiment = create_experiment(
        name="Recommendations against none",
        placement_name="home-for-you",
        variants=[
            VariantSpec(name="control", kind="settings", weight=50),
            VariantSpec(name="holdout", kind="holdout", weight=50),
        ],
        plan=Plan(primary_metric="shop_revenue", guardrails=("ctr",)),
    )
    start_experiment(experiment=experiment, now=start - timedelta(hours=1))
    report = simulate_traffic(
        api=in_process_api(),
        shoppers=[s.external_id for s in shop["shoppers"]],
        start=start,
        days=DAYS,
        seed=7,
        placement="home-for-you",
    )
    stored = store_simulated_days(start=start, days=DAYS, now=timezone.now())
    assert stored > 0 and report.clicks.observed > 0
    user = django_user_model.objects.create_user(
        username="analyst", password="browser-test-pass-1", is_staff=True
    )
    user.user_permissions.add(*Permission.objects.filter(codename="view_experiment"))
    page = browser_page
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "analyst")
    page.fill("#id_password", "browser-test-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # The KPIs: impressions counted, a row per day and variant, the chart drawn.
    page.goto(f"{base}/kpis/")
    impressions = page.locator(".kpi-label:has-text('Impressions') + .kpi")
    assert _number(impressions.inner_text()) == stored
    rows = page.locator("#kpi-table tbody tr")
    assert rows.count() >= DAYS
    variants = {rows.nth(i).locator("td").nth(2).inner_text() for i in range(rows.count())}
    assert {f"{experiment.pk}:control", f"{experiment.pk}:holdout"} <= variants
    page.wait_for_selector("canvas[data-drawn='1']")  # Chart.js drew the CTR per day
    _shot(page, "proof-kpis")

    # The experiment: both variants with shoppers and impressions, clicks only where shown.
    page.goto(f"{base}/experiments/{experiment.pk}/")
    table = page.locator("#results-table tbody tr")
    assert table.count() == 2
    figures = {}
    for row in table.all():
        cells = row.locator("td").all_inner_texts()
        figures[cells[0].split()[0]] = [_number(cells[i]) for i in (3, 4, 5)]
    assert figures["control"][0] > 0 and figures["holdout"][0] > 0  # shoppers
    assert figures["control"][1] > 0 and figures["holdout"][1] > 0  # impressions
    assert figures["control"][2] > 0 and figures["holdout"][2] == 0  # clicked
    assert "Keep running." in page.locator("#verdict").inner_text()  # far from the sample
    _shot(page, "proof-experiment")
    # The control's badge stays on its name's line, also where the table is narrow (a phone).
    page.set_viewport_size({"width": 420, "height": 900})
    assert page.locator("#results-table .badge").inner_text() == "control"
    assert page.evaluate(BADGE_BESIDE_NAME), "the control badge wrapped below its name"

    assert page.errors == [], "\n".join(page.errors)
