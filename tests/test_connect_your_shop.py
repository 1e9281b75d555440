"""The README's "Connect your shop" and the API docs' short version name real endpoints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import resolve

README = Path(settings.BASE_DIR) / "README.md"
STEPS = (
    "create_api_client",
    "/api/v1/products/bulk",
    "/api/v1/shoppers/{id}",
    "/api/v1/events",
    "/api/v1/training-runs",
    "recommendations?slot=",
    "buy_again",
    "02:30 UTC",
)


def _section() -> str:
    text = README.read_text()
    return text.split("## Connect your shop", 1)[1].split("\n## ", 1)[0]


def test_the_readme_walks_a_shop_through_every_step_with_paths_the_api_serves():
    paths = set(re.findall(r'"\$SHELFWISE(/api/v1/[^"?]*)', _section()))

    views = {path: resolve(path.replace("$RUN", "1")).func.__name__ for path in paths}

    assert len(paths) >= 10
    assert "api_not_found" not in views.values(), views
    assert "python manage.py create_api_client my-shop --role backend" in _section()
    assert "Nightly full retrain" in _section() and "every 5 minutes" in _section()


@pytest.mark.django_db
def test_the_api_docs_carry_the_short_walk_through(admin_client):
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    description = schema["info"]["description"]
    assert [step for step in STEPS if step not in description] == []
