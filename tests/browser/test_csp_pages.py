"""The admin and the API docs under the Content-Security-Policy, in a real browser: they work and
the browser reports no violation (each one is a console error, which fails the test)."""

from __future__ import annotations

import pytest

from tests.browser.test_dashboard_flow import CHROMIUM, _shot, browser_page  # noqa: F401
from tests.factories import CategoryFactory, ProductFactory, PromotionFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


@pytest.mark.django_db(transaction=True)
def test_the_admin_and_the_swagger_docs_work_without_csp_violations(
    live_server,
    browser_page,  # noqa: F811
    django_user_model,
):
    django_user_model.objects.create_superuser("admin", password="browser-admin-pass-1")
    ProductFactory(sku="MUG-1", category=CategoryFactory(slug="mugs"))
    PromotionFactory(name="Mug Week")
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "browser-admin-pass-1")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    for step, path in [
        ("admin-products", "/admin/catalog/product/"),
        ("admin-product-add", "/admin/catalog/product/add/"),
        ("admin-promotions", "/admin/catalog/promotion/"),
        ("admin-promotion-add", "/admin/catalog/promotion/add/"),
        ("admin-import", "/admin/catalog/product/import/"),
        ("admin-export", "/admin/catalog/product/export/"),
        ("admin-events", "/admin/behavior/event/"),
        ("admin-runs", "/admin/recommender/trainingrun/"),
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("#content").count() == 1, path
        _shot(page, step)
    # The export page's "Select all" toggle (its handler moved out of an inline onchange="").
    page.goto(f"{live_server.url}/admin/catalog/product/export/")
    fields = page.locator("input[type=checkbox][name^=productresource_]")
    assert fields.count() > 5
    page.uncheck("input.select-toggle")
    assert page.locator("input[type=checkbox][name^=productresource_]:checked").count() == 0
    page.check("input.select-toggle")
    assert page.locator("input[type=checkbox][name^=productresource_]:checked").count() > 5

    # The promotion form's autocomplete (select2, jQuery) opens and lists the product.
    page.goto(f"{live_server.url}/admin/catalog/promotion/add/")
    page.click(".field-products .select2-selection")
    page.wait_for_selector(".select2-results__option >> text=MUG-1")
    _shot(page, "admin-autocomplete")

    # Swagger UI renders every operation from the schema.
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".swagger-ui .opblock").count() > 10
    _shot(page, "api-docs")

    assert page.errors == [], "\n".join(page.errors)
