"""The dashboard app alone serves every merchandiser page: same paths and names as before it was
one app, its own views and templates, and no page code left in catalog, behavior or recommender."""

from __future__ import annotations

import pytest
from django.urls import resolve, reverse

from tests.conftest import REPO_ROOT

# Every page the catalog, behavior and recommender URL files served before issue 12:
# name, arguments, path.
PAGES = [
    ("overview", [], "/"),
    ("shopper-list", [], "/shoppers/"),
    ("shopper-detail", ["TSHIRT/XL"], "/shoppers/TSHIRT/XL/"),
    ("shopper-simulate", ["s-1"], "/shoppers/s-1/simulate/"),
    ("product-list", [], "/products/"),
    ("product-detail", ["MUG/1"], "/products/MUG/1/"),
    ("promotions", [], "/promotions/"),
    ("cold-start", [], "/cold-start/"),
    ("models", [], "/models/"),
    ("retrain", [], "/models/retrain/"),
    ("run-progress", [7], "/models/runs/7/progress/"),
    ("version-promote", [3], "/models/versions/3/promote/"),
    ("model-rollback", ["als"], "/models/als/rollback/"),
]
APPS = ("accounts", "catalog", "behavior", "recommender", "demo")


@pytest.mark.parametrize(("name", "args", "path"), PAGES)
def test_every_page_keeps_its_path_and_name_and_is_served_by_the_dashboard_app(name, args, path):
    assert reverse(name, args=args) == path

    match = resolve(path)

    assert match.url_name == name
    assert match.func.__module__.startswith("dashboard.views.")


def test_the_dashboard_app_holds_every_page_template_and_no_app_keeps_page_code():
    app_templates = REPO_ROOT / "dashboard" / "templates" / "dashboard"
    leftovers = [
        str(path.relative_to(REPO_ROOT))
        for app in APPS
        for name in ("views.py", "urls.py", "forms.py", "dashboard_selectors.py", "templatetags")
        if (path := REPO_ROOT / app / name).exists()
    ] + [f"templates/{app}" for app in APPS if (REPO_ROOT / "templates" / app).exists()]

    assert (app_templates / "overview.html").exists()
    assert len(list(app_templates.rglob("*.html"))) >= 15
    assert leftovers == []


@pytest.mark.django_db
def test_a_page_renders_the_dashboard_apps_templates(admin_client):
    response = admin_client.get("/products/")

    names = [t.name for t in response.templates]
    assert names[0] == "dashboard/product_list.html"
    assert "dashboard/partials/nav.html" in names
