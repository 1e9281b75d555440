"""Each fit runs in a child process: a native crash, an abort, an out-of-memory kill or a hung fit
fails that algorithm with its cause, and the others are versioned and served. A run whose
process died never blocks the next trigger."""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import subprocess
import sys
import time
from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp
from django.db import connection
from threadpoolctl import threadpool_info, threadpool_limits

from recommender.artifacts import load_model
from recommender.core import ALGORITHMS
from recommender.models import TrainingRun
from recommender.selectors import champion_version
from recommender.training.isolation import FitCrashed, run_in_child
from recommender.training.locking import TRAINING_NAMESPACE, _key
from recommender.training.services import (
    TrainingAlreadyRunning,
    run_training,
    start_training,
)
from tests.recommender.conftest import wait_until
from tests.recommender.scripted import Scripted

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


class Crashing(Scripted):
    """Dies in ``fit`` the way its ``how`` says, as a native library or the kernel would."""

    name: ClassVar[str] = "crashing"
    how = "segfault"

    def fit(self, user_items: sp.csr_matrix) -> Crashing:
        faulthandler.disable()  # the child's dump of its stack would only clutter the test log
        if self.how == "segfault":
            ctypes.string_at(0)  # reads address 0: SIGSEGV
        elif self.how == "abort":
            os.abort()
        elif self.how == "oom":
            os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer sends
        elif self.how == "hang":
            time.sleep(60)
        return super().fit(user_items)


class Segfaulting(Crashing):
    name: ClassVar[str] = "segfaulting"
    how = "segfault"


class Aborting(Crashing):
    name: ClassVar[str] = "aborting"
    how = "abort"


class KilledOutOfMemory(Crashing):
    name: ClassVar[str] = "oom_killed"
    how = "oom"


class Hanging(Crashing):
    name: ClassVar[str] = "hanging"
    how = "hang"


class CountingThreads(Scripted):
    """Records the BLAS threads its fit could use, as a learned array."""

    name: ClassVar[str] = "counting_threads"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("item_scores", "blas_threads")

    def fit(self, user_items: sp.csr_matrix) -> CountingThreads:
        super().fit(user_items)
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        self.blas_threads = np.array([max(blas), os.getpid()], dtype=np.int64)
        return self


@pytest.fixture(autouse=True)
def test_algorithms(monkeypatch, settings):
    settings.SHELFWISE_FIT_ISOLATION = True
    for cls in (Segfaulting, Aborting, KilledOutOfMemory, Hanging, CountingThreads):
        monkeypatch.setitem(ALGORITHMS, cls.name, cls)


def train(algorithms: list[str]) -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND, algorithms=algorithms, enqueue=False
    )
    return run_training(run_id=run.pk)


@pytest.mark.parametrize(
    ("algorithm", "cause"),
    [
        ("segfaulting", "killed by SIGSEGV"),
        ("aborting", "killed by SIGABRT"),
        ("oom_killed", "killed by SIGKILL (likely out of memory"),
    ],
)
def test_a_fit_that_dies_natively_fails_only_its_algorithm_with_the_cause(shop, algorithm, cause):
    run = train(["popularity", algorithm, "item_knn"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    failure = run.stats["failed"][algorithm]
    assert failure.startswith(f"FitCrashed: {algorithm}'s fit was "), failure
    assert cause in failure
    assert sorted(v.algorithm for v in run.versions.all()) == ["item_knn", "popularity"]
    for served in ("item_knn", "popularity"):
        model, items, _ = load_model(champion_version(algorithm=served))
        assert model.n_items == len(items) > 0
    assert champion_version(algorithm=algorithm) is None
    with connection.cursor() as cursor:  # the child's death did not take the session along
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_fit_past_the_timeout_is_killed_and_the_others_are_versioned(shop, settings):
    settings.SHELFWISE_FIT_TIMEOUT_SECONDS = 2
    started = time.monotonic()

    run = train(["popularity", "hanging"])

    assert time.monotonic() - started < 30
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.stats["failed"]["hanging"].startswith(
        "FitCrashed: hanging's fit timed out after 2 s"
    )
    assert [v.algorithm for v in run.versions.all()] == ["popularity"]


def test_a_run_where_every_fit_crashes_fails_with_the_cause(shop):
    run = train(["segfaulting"])

    assert run.status == TrainingRun.Status.FAILED
    assert "killed by SIGSEGV" in run.error


@pytest.mark.parametrize("threads", [1, 2])
def test_the_child_fits_under_the_parents_blas_thread_limit(shop, threads):
    with threadpool_limits(limits=threads):
        run = train(["counting_threads"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    model, _, _ = load_model(champion_version(algorithm="counting_threads"))
    fitted_threads, fitted_in = model.blas_threads.tolist()
    assert fitted_threads == threads
    assert fitted_in != os.getpid()


def test_a_python_error_in_the_child_is_raised_in_the_parent_with_its_type_and_trace():
    def work() -> None:
        raise ValueError("bad parameter")

    with pytest.raises(ValueError, match="bad parameter") as caught:
        run_in_child(work, timeout=30, label="test's fit")

    assert "raised in the fit's child process" in "".join(caught.value.__notes__)


def test_a_child_exiting_without_a_result_is_a_crash():
    with pytest.raises(FitCrashed, match="exited with status 3"):
        run_in_child(lambda: os._exit(3), timeout=30, label="test's fit")


def test_a_run_whose_process_died_does_not_block_the_next_trigger(shop):
    # A process holding the run's lock, as a training worker does; the run row says running.
    dead = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND, algorithms=["popularity"], enqueue=False
    )
    TrainingRun.objects.filter(pk=dead.pk).update(status=TrainingRun.Status.RUNNING, attempts=1)
    key = str(_key("popularity"))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, connection.settings_dict["NAME"], key],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(TrainingAlreadyRunning):  # alive: the trigger waits for it
            start_training(
                triggered_by=TrainingRun.Trigger.COMMAND, algorithms=["popularity"], enqueue=False
            )

        holder.kill()  # the worker dies outright (SIGKILL); PostgreSQL drops its lock
        holder.wait(timeout=10)
        wait_until(lambda: not _lock_held("popularity"), timeout=10, step=0.05)
    finally:
        holder.kill()

    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND, algorithms=["popularity"], enqueue=False
    )
    run = run_training(run_id=run.pk)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    dead.refresh_from_db()
    assert dead.status == TrainingRun.Status.FAILED
    assert dead.error.startswith("Worker lost")


_HOLD_LOCK = f"""
import sys, time, psycopg
with psycopg.connect(f"dbname={{sys.argv[1]}} user=postgres host=127.0.0.1", autocommit=True) as c:
    c.execute("SELECT pg_advisory_lock(%s, %s)", [{TRAINING_NAMESPACE}, int(sys.argv[2])])
    print("locked", flush=True)
    time.sleep(120)
"""


def _lock_held(algorithm: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            # Advisory locks belong to one database; pg_locks lists every database's (a
            # training run on another database of the same server holds the same keys).
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [TRAINING_NAMESPACE, _key(algorithm) & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0] > 0
