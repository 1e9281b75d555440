"""Progress and heartbeat of a running training run, visible to pollers while it trains.

The heartbeat serves any run row with ``status`` and ``heartbeat_at`` (a placement's what-if
beats with it too, ``placements.whatif_runs``).

Training runs in autocommit mode, so each update below is its own short transaction and the
dashboard sees it at once. The heartbeat beats from a thread with its own database connection:
it keeps going through a long ``fit`` (which reports nothing for minutes) and stops only when
the process dies, which is exactly what the reconciler needs to tell.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, models
from django.utils import timezone

from recommender.models import TrainingRun

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]


class RunProgress:
    """Call with (percent, stage): records both and a heartbeat on the run row."""

    def __init__(self, run_id: int, *, on_progress: ProgressCallback | None = None) -> None:
        self.run_id = run_id
        self.on_progress = on_progress
        self.percent = 0

    def __call__(self, percent: float, stage: str) -> None:
        # Never move backwards: a poller showing 80% then 60% looks broken.
        self.percent = max(self.percent, min(int(percent), 100))
        TrainingRun.objects.filter(pk=self.run_id).update(
            progress=self.percent, stage=stage[:200], heartbeat_at=timezone.now()
        )
        if self.on_progress is not None:
            self.on_progress(self.percent, stage)


@contextmanager
def heartbeat(
    run_id: int, *, interval: float, model: type[models.Model] = TrainingRun
) -> Iterator[None]:
    """Beat ``heartbeat_at`` of ``model`` row ``run_id`` every ``interval`` seconds while the
    block runs (and while the row is ``running``)."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk=run_id, status="running").update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a DB blip must not kill training; the next beat retries
                    logger.warning("heartbeat of run %s failed", run_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    name = f"heartbeat-{model._meta.model_name}-{run_id}"
    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)
