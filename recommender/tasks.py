"""Celery tasks: thin wrappers that take ids, call one service and log the outcome.

Training tasks go to the ``train`` queue (CELERY_TASK_ROUTES) so a long fit never delays the
light periodic work, run with acks_late + reject_on_worker_lost (settings) and are idempotent by
run id because of it: a redelivered message for a finished run does nothing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone
from threadpoolctl import threadpool_limits

from recommender.models import TrainingRun
from recommender.training.services import (
    TrainingAlreadyRunning,
    reconcile_stale_runs,
    run_training,
    start_training,
)

logger = logging.getLogger(__name__)


@shared_task(
    name="recommender.tasks.train_models_task",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=settings.TRAINING_HARD_TIME_LIMIT,
)
def train_models_task(run_id: int) -> str:
    """Train run ``run_id``; returns its final status."""
    try:
        # Prefork children share the machine's cores: cap BLAS threads so a worker never
        # oversubscribes them (and never hangs on a BLAS pool inherited across fork).
        with threadpool_limits(limits=settings.SHELFWISE_TRAINING_BLAS_THREADS):
            run = run_training(run_id=run_id)
    except TrainingRun.DoesNotExist:
        logger.error("training run %s does not exist; dropping the task", run_id)
        return "missing"
    logger.info("training run %s: %s", run_id, run.status)
    return run.status


def train_in_background(*, run_id: int) -> threading.Thread:
    """Train run ``run_id`` on a daemon thread of this process (embedded mode, no worker).

    Eager tasks would train inside the request that triggered them, freezing the page for the
    whole fit; on a thread the request answers at once and the dashboard polls the progress as
    it does with a worker. Daemon: stopping the dev server does not wait for a fit (the run
    then stays running until the reconciler or a retrain takes it over).
    """

    def train() -> None:
        try:
            train_models_task.apply(args=[run_id], throw=False)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=train, name=f"training-run-{run_id}", daemon=True)
    thread.start()
    return thread


def send_training(*, run_id: int) -> str | None:
    """Hand run ``run_id`` to the ``train`` queue (its task id) or, embedded, to a thread (None).

    Raises kombu's ``OperationalError`` when the broker refuses; ``training.queue`` records it.
    """
    if settings.SHELFWISE_TRAIN_IN_BACKGROUND:
        train_in_background(run_id=run_id)
        return None
    task_id = str(uuid.uuid4())
    train_models_task.apply_async(args=[run_id], task_id=task_id, retry=False)
    return task_id


def _start_scheduled(algorithms: list[str] | None) -> int | None:
    try:
        return start_training(triggered_by=TrainingRun.Trigger.SCHEDULE, algorithms=algorithms).pk
    except TrainingAlreadyRunning as exc:
        logger.info("scheduled training skipped: run %s is already active", exc.run_id)
        return None


@shared_task(name="recommender.tasks.nightly_retrain_task")
def nightly_retrain_task() -> int | None:
    """Start the nightly full retrain of the configured algorithms; returns the run id."""
    return _start_scheduled(None)


@shared_task(name="recommender.tasks.refresh_trending_task")
def refresh_trending_task() -> int | None:
    """Retrain only the trending models (SHELFWISE_TRENDING_ALGORITHMS); returns the run id."""
    return _start_scheduled(list(settings.SHELFWISE_TRENDING_ALGORITHMS))


@shared_task(name="recommender.tasks.reconcile_stale_runs_task")
def reconcile_stale_runs_task() -> dict:
    """Re-queue (or fail, after too many attempts) runs whose worker stopped beating."""
    outcome = reconcile_stale_runs(now=timezone.now())
    if outcome["requeued"] or outcome["failed"]:
        logger.warning("reconciled stale training runs: %s", outcome)
    return outcome


@shared_task(name="recommender.tasks.drain_impressions_task", soft_time_limit=50, time_limit=55)
def drain_impressions_task() -> int:
    """Store the served responses waiting in the impressions stream; returns the new rows.

    Safe to retry or to run twice at once: the drain is idempotent by recommendation id.
    """
    from recommender.proof.drain import drain_impressions

    return drain_impressions()


@shared_task(name="recommender.tasks.refresh_kpis_task", soft_time_limit=600, time_limit=660)
def refresh_kpis_task() -> list[str]:
    """Drain the impressions, then recompute today's and yesterday's KPIs (late events land
    on their own day, and a purchase after midnight still credits yesterday's click)."""
    from recommender.proof.drain import drain_impressions
    from recommender.proof.kpis import refresh_kpis

    now = timezone.now()
    drain_impressions()
    days = [(now - timedelta(days=n)).date() for n in (1, 0)]
    return [str(refresh_kpis(day=day, now=now).day) for day in days]
