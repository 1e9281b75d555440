"""Shared fixtures. Integration tests run against real PostgreSQL and Redis (settings_test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
ONLINE_RETAIL_CSV = DATASETS / "online_retail" / "online_retail.csv.gz"


def api_token(name: str = "shop-backend", *, role: str = "backend") -> str:
    """A token of an API client made as ``manage.py create_api_client`` makes it (a backend
    client holds exactly the "Shop back-end" group's write permissions)."""
    from accounts.roles import create_api_client

    return create_api_client(name=name, role=role).token


def api_client(name: str = "shop-backend", *, role: str = "backend"):
    """A DRF test client authenticated with ``api_token``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(name, role=role)}")
    return client


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="merchandiser", password="correct-horse-battery", is_staff=True
    )


@pytest.fixture(autouse=True)
def _clear_cache_between_tests(request):
    """Each test starts with an empty cache (the Redis test database), no catalog snapshot and
    no placements memo, whatever ran before: the snapshot trusts the version counter for a
    second, and that counter moves on commit, which a test's rolled-back transaction never
    reaches."""
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker(
        "django_db"
    ):
        yield
        return
    from django.core.cache import cache

    from placements.selectors import forget_placements
    from placements.whatif import forget_replay_models
    from recommender.impressions import flush_impressions
    from recommender.serving.catalog_state import forget_catalog
    from recommender.serving.repeat_model import forget_repeat_model

    flush_impressions()  # counts an earlier test left pending in this process go before the clear
    cache.clear()
    forget_catalog()
    forget_placements()
    forget_repeat_model()
    forget_replay_models()  # a what-if's scratch models, kept per process by cut day
    yield


_UNSET = object()


@pytest.fixture
def celery_conf() -> Iterator[Callable[..., None]]:
    """Override Celery app settings for one test: ``celery_conf(task_always_eager=False)``.

    The app reads Django's settings through (``config_from_object``) until a value is assigned
    on ``app.conf``; an assignment then pins it for the rest of the session. ``monkeypatch``
    restores by assigning the value it read at entry, which pins it too, so a later test that
    changes ``settings.CELERY_...`` would be ignored. This removes the overrides afterwards.
    """
    from config.celery import app

    saved: dict[str, object] = {}

    def override(**values: object) -> None:
        for key, value in values.items():
            saved.setdefault(key, app.conf.changes.get(key, _UNSET))
            app.conf[key] = value

    yield override
    for key, value in saved.items():
        if value is _UNSET:
            app.conf.changes.pop(key, None)
        else:
            app.conf.changes[key] = value


@pytest.fixture
def dead_broker(celery_conf, monkeypatch) -> None:
    """The task queue "stops": the broker moves to a port nothing listens on (Redis is shared
    by the whole session), and the app's cached connection pools are swapped out."""
    from config.celery import app

    dead = "redis://127.0.0.1:1/0"
    celery_conf(task_always_eager=False, broker_url=dead, broker_write_url=dead)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)


@pytest.fixture
def private_redis(tmp_path) -> Iterator:
    """A redis-server of this test's own (tests/redis_server.py), stopped at teardown."""
    from tests.redis_server import PrivateRedis

    server = PrivateRedis(tmp_path)
    yield server
    server.stop()
