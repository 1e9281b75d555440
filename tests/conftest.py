"""Shared fixtures. Integration tests run against real PostgreSQL and Redis (settings_test)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
ONLINE_RETAIL_CSV = DATASETS / "online_retail" / "online_retail.csv.gz"


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="merchandiser", password="correct-horse-battery", is_staff=True
    )


@pytest.fixture(autouse=True)
def _clear_cache_between_tests(request):
    """Each test starts with an empty cache (the Redis test database), whatever ran before."""
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker(
        "django_db"
    ):
        yield
        return
    from django.core.cache import cache

    from recommender.impressions import flush_impressions

    flush_impressions()  # counts an earlier test left pending in this process go before the clear
    cache.clear()
    yield
