"""Handing a queued run to whatever trains it: a Celery worker, or a thread of this process.

``recommender.tasks`` calls into this package, so this package may not import it back (a contract
in .importlinter). The tasks module hands its sender over when Django loads the app
(``RecommenderConfig.ready``); services enqueue through ``enqueue_run``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone

from recommender.models import TrainingRun

logger = logging.getLogger(__name__)

# Sends run ``run_id`` off; returns the Celery task id, or None when it trains on a thread here.
Sender = Callable[..., str | None]

_sender: Sender | None = None


def connect(sender: Sender) -> None:
    """Use ``sender(run_id=...)`` to hand runs over from now on."""
    global _sender
    _sender = sender


def enqueue_run(*, run_id: int) -> bool:
    """Send the training task for ``run_id``; on a broker error mark the run ``not_queued``.

    ``retry=False`` in the sender skips kombu's publish retries: with the broker refusing
    connections this raises after 0.6 s (0.9 s with retries), measured against a closed port.
    """
    from kombu.exceptions import OperationalError

    if _sender is None:
        raise RuntimeError("No training sender connected: is the recommender app loaded?")
    try:
        task_id = _sender(run_id=run_id)
    except OperationalError as exc:
        logger.error("could not enqueue training run %s: %s", run_id, exc)
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.NOT_QUEUED,
            stage="not queued",
            error=f"The task queue (broker) is unreachable: {str(exc).rstrip('.')}. "
            "Retry when it is back.",
            finished_at=timezone.now(),
        )
        return False
    if task_id is not None:
        TrainingRun.objects.filter(pk=run_id).update(task_id=task_id)
    return True
