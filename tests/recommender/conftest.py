"""Fixtures for training tests: synthetic shop data, the scripted algorithm, a real worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product
from recommender.core import ALGORITHMS
from tests.recommender.scripted import Scripted

REPO_ROOT = Path(__file__).resolve().parents[2]
# The broker of the test worker (settings_test points CELERY_BROKER_URL here too).
NEWEST_EVENT = datetime(2011, 12, 9, 12, 0, tzinfo=UTC)


@pytest.fixture
def scripted_algorithm() -> Iterator[type[Scripted]]:
    ALGORITHMS["scripted"] = Scripted
    yield Scripted
    ALGORITHMS.pop("scripted", None)


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def make_shop(
    *, n_shoppers: int = 60, n_products: int = 30, n_events: int = 1500, seed: int = 7
) -> tuple[list[Shopper], list[Product]]:
    """Shoppers in five taste groups, each mostly touching its own sixth of the catalog, with
    events spread over 60 days up to ``NEWEST_EVENT`` (historical, like Online Retail)."""
    rng = np.random.default_rng(seed)
    category = Category.objects.create(name="Home", slug=f"home-{seed}")
    products = Product.objects.bulk_create(
        Product(sku=f"SKU-{seed}-{i}", title=f"Product {i}", price=5, category=category)
        for i in range(n_products)
    )
    shoppers = Shopper.objects.bulk_create(
        Shopper(external_id=f"shopper-{seed}-{i}") for i in range(n_shoppers)
    )
    group_size = n_products // 5
    kinds = [EventKind.VIEW, EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE]
    events = []
    for n in range(n_events):
        shopper = int(rng.integers(n_shoppers))
        if rng.random() < 0.85:
            product = (shopper % 5) * group_size + int(rng.integers(group_size))
        else:
            product = int(rng.integers(n_products))
        events.append(
            Event(
                event_id=f"evt-{seed}-{n}",
                shopper=shoppers[shopper],
                product=products[product],
                kind=kinds[int(rng.integers(len(kinds)))],
                value=1.0,
                occurred_at=NEWEST_EVENT - timedelta(minutes=int(rng.integers(60 * 24 * 60))),
            )
        )
    Event.objects.bulk_create(events, batch_size=2000)
    return shoppers, products


@pytest.fixture
def shop() -> tuple[list[Shopper], list[Product]]:
    return make_shop()


class WorkerProcess:
    """A real ``celery worker`` subprocess on the test database and the test broker."""

    def __init__(
        self,
        *,
        database_name: str,
        media_root: Path,
        log_path: Path,
        broker_url: str = "",
        wait_ready: bool = True,
    ) -> None:
        from django.conf import settings

        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database_name}",
            "CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "SHELFWISE_MEDIA_ROOT": str(media_root),
            "SHELFWISE_HEARTBEAT_SECONDS": "0.5",
            "DATABASE_CONN_MAX_AGE": "0",
            "OPENBLAS_NUM_THREADS": "1",
        }
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.recommender.worker_app",
                "worker",
                "-Q",
                "train,default",
                "--pool",
                "prefork",
                "-c",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches the pool child too
        )
        if wait_ready:
            self.wait_for("ready.", timeout=30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, *, timeout: float, times: int = 1) -> None:
        """Until ``text`` appears ``times`` times in the log; raises if the worker exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(text) >= times:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            time.sleep(0.1)
        raise TimeoutError(f"worker not {text!r} within {timeout}s:\n{self.output()}")

    def pool_children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill_everything(self) -> None:
        """SIGKILL the main process and its pool children at once (a machine/container dying)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        # Nothing to finish gracefully at teardown; a warm shutdown costs seconds per worker.
        self.kill_everything()
        self.log.close()


@pytest.fixture(scope="session")
def worker_media_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-media")


@pytest.fixture(scope="module")
def shared_worker(django_db_setup, worker_media_root, tmp_path_factory) -> Iterator[WorkerProcess]:
    """One worker for a module's tests (starting one costs seconds on a loaded machine)."""
    from django.db import connection

    worker = WorkerProcess(
        database_name=connection.settings_dict["NAME"],
        media_root=worker_media_root,
        log_path=tmp_path_factory.mktemp("worker") / "worker.log",
    )
    yield worker
    worker.stop()


@pytest.fixture
def live_broker(transactional_db, settings, celery_conf, worker_media_root) -> Iterator[None]:
    """The test process publishes for real (not eagerly) to the workers' broker database, and
    writes artifacts where the workers do."""
    purge_broker()
    settings.MEDIA_ROOT = str(worker_media_root)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_conf(task_always_eager=False)
    yield
    purge_broker()


@pytest.fixture
def start_worker(live_broker, worker_media_root, tmp_path) -> Iterator[Callable]:
    """Start fresh workers for a test that kills them; all are stopped at teardown."""
    from django.db import connection

    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(
            database_name=connection.settings_dict["NAME"],
            media_root=worker_media_root,
            log_path=tmp_path / f"worker-{len(workers)}.log",
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def purge_broker() -> None:
    """Drop queued and unacked task messages left by an earlier test.

    Only kombu's own keys: the Redis database may be shared with other processes' data.
    """
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("train", "default", "unacked", "unacked_index", "unacked_mutex")


def wait_until(predicate: Callable[[], bool], *, timeout: float, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise TimeoutError(f"condition not met within {timeout}s")
