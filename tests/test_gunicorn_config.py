"""The gunicorn settings module's worker hook freezes the worker's startup heap."""

from __future__ import annotations

import gc
import importlib

import pytest


@pytest.fixture
def gunicorn_config():
    yield importlib.import_module("config.gunicorn")
    gc.unfreeze()


def test_a_booted_worker_parks_its_startup_objects_outside_the_collector(gunicorn_config):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0

    gunicorn_config.post_worker_init(worker=None)

    assert gc.get_freeze_count() > 10_000  # Django, DRF, numpy and the URLconf's modules
