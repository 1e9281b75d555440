"""The serving tests' planted shop (three taste groups, trained models), and placements on it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from placements.models import Placement, WhatIfRun
from placements.whatif_runs import WHATIF_NAMESPACE
from recommender.training.locking import _key
from tests.serving.conftest import _fresh_serving_state, api, shop, trained_shop  # noqa: F401


@pytest.fixture
def home(trained_shop) -> Placement:  # noqa: F811
    placement = Placement(name="home-for-you", title="Home: for you", strategy="for_you", k=5)
    placement.full_clean()
    placement.save()
    return placement


@contextmanager
def worker_replaying(run: WhatIfRun) -> Iterator[psycopg.Connection]:
    """Another process's session holding the run's lock, as a live worker's does."""
    dsn = f"dbname={connection.settings_dict['NAME']} user=postgres host=127.0.0.1"
    key = [WHATIF_NAMESPACE, _key(str(run.pk))]
    with psycopg.connect(dsn, autocommit=True) as worker:
        worker.execute("SELECT pg_advisory_lock(%s, %s)", key)
        pid = worker.info.backend_pid
        yield worker
    # The server ends a closed session's backend, and with it the lock, a moment after the
    # client goes: wait for that, as a worker's death is only seen once it happened.
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # pg_locks is read live (pg_stat_activity is a snapshot per transaction).
            cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return
            time.sleep(0.02)
    raise AssertionError(f"the worker's session (pid {pid}) kept its locks after it closed")
