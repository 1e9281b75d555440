"""Training services: trigger a run, execute it once, train and version models, reconcile.

``start_training`` records a queued run and enqueues it; ``run_training`` (what the Celery task
calls) executes it under the per-algorithm lock, idempotently by run id; ``train_models`` is the
pipeline itself; ``reconcile_stale_runs`` recovers runs whose worker died.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from recommender.artifacts import (
    ArtifactError,
    artifact_path,
    delete_artifact,
    load_model,
    write_artifact,
)
from recommender.core import ALGORITHMS, Recommender
from recommender.core.matrix import IdIndex
from recommender.models import ModelVersion, TrainingRun
from recommender.training.content import catalog_features, item_support, reindex_columns
from recommender.training.dataset import (
    TrainingData,
    TrainingDataError,
    build_training_data,
    load_events,
)
from recommender.training.evaluation import holdout_metrics
from recommender.training.locking import (
    algorithm_locks,
    algorithms_locked_elsewhere,
    serialize_triggers,
    uses_advisory_locks,
)
from recommender.training.progress import ProgressCallback, RunProgress, heartbeat
from recommender.training.promotion import ChampionScore, crown, decide, decide_feature_index

logger = logging.getLogger(__name__)

# Run stats key: artifacts an attempt is writing, until a version records them or they are swept.
UNRECORDED_ARTIFACTS = "unrecorded_artifacts"


class TrainingAlreadyRunning(Exception):
    """A queued or running run already covers some of the requested algorithms."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"Training run #{run_id} is already queued or running for these models.")


class BrokerUnavailable(Exception):
    """The run was recorded but could not be handed to the task queue."""

    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        super().__init__(run.error)


class UnknownAlgorithm(ValueError):
    """An algorithm name that is not registered in ``recommender.core.ALGORITHMS``, or one that
    cannot be trained on its own (a composite such as ``blend``)."""


def trainable_algorithms() -> list[str]:
    """Registered algorithms a run can fit from the interaction matrix and their params alone."""
    return sorted(name for name, cls in ALGORITHMS.items() if not cls.composite)


def resolve_algorithms(algorithms: list[str] | None) -> list[str]:
    """The requested algorithms, deduplicated in order, or the configured defaults.

    Unknown or composite requested names raise ``UnknownAlgorithm``; defaults that this
    deployment does not register are skipped with a warning, so a settings list written ahead
    of the code still runs.
    """
    trainable = trainable_algorithms()
    if algorithms:
        names = list(dict.fromkeys(algorithms))
        composite = [name for name in names if name in ALGORITHMS and name not in trainable]
        unknown = [name for name in names if name not in ALGORITHMS]
        if composite or unknown:
            problems = [f"Unknown algorithm(s): {', '.join(unknown)}."] if unknown else []
            if composite:
                problems.append(
                    f"Not trainable on its own (combines trained models): {', '.join(composite)}."
                )
            raise UnknownAlgorithm(" ".join([*problems, f"Choose from: {', '.join(trainable)}."]))
        return names
    names = [name for name in settings.SHELFWISE_TRAINING_ALGORITHMS if name in trainable]
    missing = set(settings.SHELFWISE_TRAINING_ALGORITHMS) - set(names)
    if missing:
        logger.warning("configured algorithms not trainable here, skipped: %s", sorted(missing))
    if not names:
        raise UnknownAlgorithm("None of SHELFWISE_TRAINING_ALGORITHMS is registered.")
    return names


def start_training(
    *,
    triggered_by: str,
    algorithms: list[str] | None = None,
    params: dict[str, dict] | None = None,
    user: AbstractBaseUser | None = None,
    enqueue: bool = True,
) -> TrainingRun:
    """Record a queued run and hand it to the ``train`` queue after commit.

    Raises ``TrainingAlreadyRunning`` (with that run's id) instead of creating a second run for
    any algorithm already queued or running, and ``BrokerUnavailable`` when the broker refused
    the task (the run is then kept as ``not_queued`` with the reason).
    """
    names = resolve_algorithms(algorithms)
    effective = {
        name: {**settings.SHELFWISE_ALGORITHM_PARAMS.get(name, {}), **(params or {}).get(name, {})}
        for name in names
    }
    with transaction.atomic():
        serialize_triggers()
        for active in TrainingRun.objects.active().only("id", "algorithms"):
            if set(active.algorithms) & set(names):
                raise TrainingAlreadyRunning(active.pk)
        run = TrainingRun.objects.create(
            algorithms=names,
            params=effective,
            lock_key=",".join(sorted(names)),
            triggered_by=triggered_by,
            requested_by=user if user is not None and user.is_authenticated else None,
            stage="queued",
            # "Last sign of life" of a queued run is when it was queued: the reconciler
            # expires runs no worker ever picked up (see reconcile_stale_runs).
            heartbeat_at=timezone.now(),
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_run(run_id=run.pk))
    run.refresh_from_db()
    if run.status == TrainingRun.Status.NOT_QUEUED:
        raise BrokerUnavailable(run)
    return run


def enqueue_run(*, run_id: int) -> bool:
    """Send the training task for ``run_id``; on a broker error mark the run ``not_queued``.

    ``retry=False`` skips kombu's publish retries: with the broker refusing connections this
    raises after 0.6 s (0.9 s with retries), measured against a closed port.
    """
    from kombu.exceptions import OperationalError

    from recommender.tasks import train_in_background, train_models_task

    if settings.SHELFWISE_TRAIN_IN_BACKGROUND:
        train_in_background(run_id=run_id)
        return True
    task_id = str(uuid.uuid4())
    try:
        train_models_task.apply_async(args=[run_id], task_id=task_id, retry=False)
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
    TrainingRun.objects.filter(pk=run_id).update(task_id=task_id)
    return True


def run_training(*, run_id: int, on_progress: ProgressCallback | None = None) -> TrainingRun:
    """Execute run ``run_id`` at most once to completion.

    A finished run is left alone (a redelivered task does nothing); a run whose algorithms are
    locked by a live worker is not started twice; any exception ends the run ``failed`` with the
    error recorded, and no champion changes unless the whole run succeeded.
    """
    run = TrainingRun.objects.get(pk=run_id)
    if run.is_finished:
        logger.info("training run %s already %s; nothing to do", run_id, run.status)
        return run
    with algorithm_locks(run.algorithms) as acquired:
        if not acquired:
            return _locked_elsewhere(run)
        if not uses_advisory_locks() and _alive_without_lock(run):
            return run
        run = _start_attempt(run)
        if run.status != TrainingRun.Status.RUNNING:
            return run
        progress = RunProgress(run.pk, on_progress=on_progress)
        try:
            with heartbeat(run.pk, interval=settings.SHELFWISE_HEARTBEAT_SECONDS):
                train_models(run=run, progress=progress)
        except BaseException as exc:
            # BaseException: a soft time limit or a worker shutdown must still be recorded.
            _finish_failed(run.pk, error=_describe(exc))
            if isinstance(exc, TrainingDataError):
                # The data, not the code: the message is the whole story, a traceback is noise.
                logger.warning("training run %s failed: %s", run_id, exc)
            else:
                logger.exception("training run %s failed", run_id)
            if not isinstance(exc, Exception):
                raise
    run.refresh_from_db()
    return run


def _locked_elsewhere(run: TrainingRun) -> TrainingRun:
    if run.status == TrainingRun.Status.RUNNING:
        # Our own earlier delivery is still training it (e.g. a broker redelivery): leave it.
        logger.info("training run %s is being trained by another live worker", run.pk)
        return run
    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exclude(pk=run.pk)
    holder = next((r for r in running if set(r.algorithms) & set(run.algorithms)), None)
    holder_text = f"run #{holder.pk}" if holder else "another run"
    _finish_failed(
        run.pk,
        error=f"Not started: {holder_text} was already training {', '.join(run.algorithms)}.",
    )
    run.refresh_from_db()
    return run


def _alive_without_lock(run: TrainingRun) -> bool:
    """SQLite has no advisory locks: trust a fresh heartbeat as "its worker is alive"."""
    if run.status != TrainingRun.Status.RUNNING or run.heartbeat_at is None:
        return False
    timeout = timedelta(seconds=settings.SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS)
    return run.heartbeat_at > timezone.now() - timeout


def _start_attempt(run: TrainingRun) -> TrainingRun:
    """Mark the run running for a new attempt (we hold its locks), or give up after too many."""
    now = timezone.now()
    try:
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if run.is_finished:
                return run
            log = list(run.stats.get("attempt_log", []))
            if run.status == TrainingRun.Status.RUNNING:
                # We hold the locks, so the worker that marked it running is gone.
                log.append(f"attempt {run.attempts}: worker lost, taken over at {now:%H:%M:%S}")
            if run.attempts >= settings.SHELFWISE_TRAINING_MAX_ATTEMPTS:
                return _give_up(run, log=log, now=now)
            # With the advisory locks held, any other row still "running" for these algorithms
            # lost its worker (its lock died with it): fail it so the one-running constraint
            # admits this run. Without them (SQLite) the constraint decides, below.
            others = TrainingRun.objects.select_for_update().filter(
                status=TrainingRun.Status.RUNNING, lock_key=run.lock_key
            )
            for stale in others.exclude(pk=run.pk) if uses_advisory_locks() else []:
                stale.status, stale.finished_at = TrainingRun.Status.FAILED, now
                stale.error = f"Worker lost; superseded by run #{run.pk}."
                stale.save(update_fields=["status", "finished_at", "error"])
            run.status = TrainingRun.Status.RUNNING
            run.attempts += 1
            run.started_at = run.started_at or now
            run.heartbeat_at = now
            run.progress, run.stage = 0, f"starting (attempt {run.attempts})"
            run.stats = {**run.stats, "attempt_log": log}
            run.save()
            return run
    except IntegrityError:
        # SQLite only (PostgreSQL serialised us on the advisory lock): another row is running.
        _finish_failed(run.pk, error="Not started: another run was already training these models.")
        run.refresh_from_db()
        return run


def _give_up(run: TrainingRun, *, log: list[str], now: datetime) -> TrainingRun:
    run.status, run.finished_at = TrainingRun.Status.FAILED, now
    run.error = f"Gave up after {run.attempts} attempts: " + "; ".join(log[-3:])
    run.stats = {**run.stats, "attempt_log": log}
    run.save()
    return run


def _finish_failed(run_id: int, *, error: str) -> None:
    # The failure may be the connection itself (a killed backend, a failover): write it on a new
    # one, or the run stays "running" until the reconciler notices its silence.
    if not connection.in_atomic_block and not connection.is_usable():
        connection.close()
    TrainingRun.objects.filter(pk=run_id).exclude(status__in=TrainingRun.FINISHED).update(
        status=TrainingRun.Status.FAILED,
        error=error[:10_000],
        stage="failed",
        finished_at=timezone.now(),
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TrainingDataError):
        return f"{type(exc).__name__}: {exc}"
    lines = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n\n{''.join(lines[-6:])}"


@dataclass
class Fitted:
    algorithm: str
    model: Recommender
    params: dict
    metrics: dict
    champion: ChampionScore
    # The model's item index: the run's matrix items, or the catalog for feature models.
    items: IdIndex
    artifact: str = ""
    timings: dict = field(default_factory=dict)

    @property
    def is_feature_index(self) -> bool:
        return bool(getattr(self.model, "needs_item_features", False))


def train_models(*, run: TrainingRun, progress: RunProgress) -> list[ModelVersion]:
    """Fit, evaluate, save and (if good enough) promote every algorithm of a running ``run``.

    Versions, promotions and the run's success are committed in one transaction at the end, so
    a run that fails at any step leaves no version and no champion change behind.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    progress(1, "loading events")
    events = load_events(
        window_days=settings.SHELFWISE_TRAINING_WINDOW_DAYS,
        on_chunk=lambda done, total: progress(
            1 + 14 * done / max(total, 1), f"loading events {done:,}/{total:,}"
        ),
    )
    timings["load_events"] = time.perf_counter() - started
    progress(15, "building matrix")
    mark = time.perf_counter()
    data = build_training_data(
        events,
        kind_weights=settings.SHELFWISE_EVENT_WEIGHTS,
        half_life_days=settings.SHELFWISE_HALF_LIFE_DAYS,
        value_transform=settings.SHELFWISE_VALUE_TRANSFORM,
        holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION,
        # The holdout scores each shopper from the rows serving would build for them.
        realtime_half_life_hours=settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS,
        recent_events=settings.SHELFWISE_RECENT_EVENTS,
    )
    timings["build_matrix"] = time.perf_counter() - mark
    _record_data(run, events_window=(events.window_start, events.window_end), data=data)
    fitted, skipped = [], {}
    for index, algorithm in enumerate(run.algorithms):
        # Instantiated first: an item limit (EASE's max_items) may be a hyper-parameter.
        model = ALGORITHMS[algorithm](**run.params.get(algorithm, {}))
        limit = getattr(model, "max_items", None)
        if limit is not None and len(data.items) > limit:
            # e.g. EASE inverts an items×items matrix: past its limit it would not fit in memory.
            skipped[algorithm] = f"{len(data.items):,} products exceed its limit of {limit:,}"
            continue
        fitted.append(_fit_and_evaluate(run, model, data=data, index=index, progress=progress))
    if skipped:
        run.stats = {**TrainingRun.objects.get(pk=run.pk).stats, "skipped": skipped}
        TrainingRun.objects.filter(pk=run.pk).update(stats=run.stats)
    progress(90, "saving artifacts")
    mark = time.perf_counter()
    keys = {item.algorithm: uuid.uuid4() for item in fitted}
    # Noted before writing: an attempt killed from here on leaves folders no version points at,
    # which the run's next success or the reconciler deletes (sweep_unrecorded_artifacts).
    _note_artifacts(run.pk, [artifact_path(algorithm=a, key=k) for a, k in keys.items()])
    try:
        for item in fitted:
            item.artifact = write_artifact(
                model=item.model,
                items=item.items,
                users=data.users,
                algorithm=item.algorithm,
                key=keys[item.algorithm],
                support=item_support(data.train, source=data.items, target=item.items),
            )
        timings["save_artifacts"] = time.perf_counter() - mark
        progress(96, "promoting")
        timings["total"] = time.perf_counter() - started
        return _record_versions(run, fitted=fitted, data=data, timings=timings)
    except BaseException:
        for item in fitted:  # nothing points at them: remove the leftovers
            if item.artifact:
                delete_artifact(item.artifact)
        raise


def _note_artifacts(run_id: int, paths: list[str]) -> None:
    stats = TrainingRun.objects.get(pk=run_id).stats
    noted = [*stats.get(UNRECORDED_ARTIFACTS, []), *paths]
    TrainingRun.objects.filter(pk=run_id).update(stats={**stats, UNRECORDED_ARTIFACTS: noted})


def sweep_unrecorded_artifacts(*, run_id: int) -> list[str]:
    """Delete the artifacts the run's attempts wrote that no version records; returns them.

    Only for a run no live worker is writing: the reconciler, once it found the worker gone
    (a success drops the same leftovers in ``_record_versions``).
    """
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        noted = run.stats.get(UNRECORDED_ARTIFACTS, [])
        if not noted:
            return []
        recorded = set(
            ModelVersion.objects.filter(artifact__in=noted).values_list("artifact", flat=True)
        )
        run.stats = {key: v for key, v in run.stats.items() if key != UNRECORDED_ARTIFACTS}
        run.save(update_fields=["stats"])
    leftovers = [path for path in noted if path not in recorded]
    _delete_artifacts(leftovers)
    return leftovers


def _delete_artifacts(paths: list[str]) -> None:
    for path in paths:
        try:
            delete_artifact(path)
        except OSError:  # storage trouble must not fail a run that succeeded
            logger.warning("could not delete leftover artifact %s", path, exc_info=True)


def _record_data(run: TrainingRun, *, events_window: tuple, data: TrainingData) -> None:
    TrainingRun.objects.filter(pk=run.pk).update(
        window_start=events_window[0],
        window_end=events_window[1],
        holdout_start=data.holdout_start,
        n_events=data.n_events,
        n_shoppers=data.stats["n_shoppers_in_window"],
        n_products=data.stats["n_products_in_window"],
        n_interactions=int(data.train.nnz),
        stats={**run.stats, "data": data.stats},
    )


def _fit_and_evaluate(
    run: TrainingRun, model: Recommender, *, data: TrainingData, index: int, progress: RunProgress
) -> Fitted:
    algorithm = run.algorithms[index]
    total = len(run.algorithms)
    share = 75 / total
    base = 15 + share * index
    params = dict(run.params.get(algorithm, {}))
    progress(base, f"fitting {algorithm} {index + 1}/{total}")
    mark = time.perf_counter()
    half_life = settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS.get(
        algorithm, settings.SHELFWISE_HALF_LIFE_DAYS
    )
    train = data.train_with_half_life(half_life)
    model_items = data.items
    extra: dict = {}
    if getattr(model, "needs_item_features", False):
        # A feature index covers the catalog, products without events included (new arrivals).
        features = catalog_features(training_items=data.items)
        model_items = features.items
        train = reindex_columns(train, source=data.items, target=model_items)
        model.fit(train, **features.arrays())
        extra = {
            "catalog_items": len(model_items),
            "items_without_events": int(len(model_items) - np.count_nonzero(train.getnnz(0))),
        }
    else:
        model.fit(train)
    timings = {"fit": time.perf_counter() - mark}
    progress(base + share * 0.7, f"evaluating {algorithm} {index + 1}/{total}")
    mark = time.perf_counter()
    k = settings.SHELFWISE_EVAL_K
    metrics = _holdout(model, model_items=model_items, data=data, k=k)
    timings["evaluate"] = time.perf_counter() - mark
    mark = time.perf_counter()
    champion = _score_champion(algorithm, data=data, k=k)
    timings["evaluate_champion"] = time.perf_counter() - mark
    metrics = {
        **metrics,
        **extra,
        **{f"{name}_seconds": round(v, 3) for name, v in timings.items()},
    }
    return Fitted(algorithm, model, params, metrics, champion, model_items, timings=timings)


def _holdout(
    model: Recommender, *, model_items: IdIndex, data: TrainingData, k: int
) -> dict[str, float]:
    """Metrics on this run's holdout, shoppers scored from the rows serving would build."""
    return holdout_metrics(
        model,
        model_items=model_items,
        items=data.items,
        train=data.train,
        test=data.test,
        k=k,
        score_rows=data.score_rows,
    )


def _score_champion(algorithm: str, *, data: TrainingData, k: int) -> ChampionScore:
    """The serving champion's NDCG@k on this run's holdout (mapped through product pks)."""
    champion = ModelVersion.objects.champions().filter(algorithm=algorithm).first()
    if champion is None:
        return ChampionScore(None)
    try:
        model, model_items, _ = load_model(champion)
        metrics = _holdout(model, model_items=model_items, data=data, k=k)
    except (ArtifactError, ValueError) as exc:
        logger.warning("champion %s could not be scored: %s", champion.pk, exc)
        return ChampionScore(champion.pk, None, str(exc)[:300])
    return ChampionScore(champion.pk, metrics[f"ndcg@{k}"])


def _record_versions(
    run: TrainingRun, *, fitted: list[Fitted], data: TrainingData, timings: dict
) -> list[ModelVersion]:
    k = settings.SHELFWISE_EVAL_K
    has_holdout = bool(data.test.nnz)
    versions = []
    with transaction.atomic():
        # Lock in a fixed order so two transactions can never wait on each other.
        for item in sorted(fitted, key=lambda f: f.algorithm):
            version = ModelVersion.objects.create(
                algorithm=item.algorithm,
                run=run,
                artifact=item.artifact,
                uuid=uuid.UUID(item.artifact.rsplit("/", 1)[-1]),
                params=item.params,
                metrics={
                    **item.metrics,
                    "champion_ndcg@10": item.champion.ndcg,
                    "champion_version": item.champion.version_id,
                },
                n_users=len(data.users),
                n_items=len(item.items),
            )
            current = (
                ModelVersion.objects.select_for_update()
                .filter(algorithm=item.algorithm, status=ModelVersion.Status.CHAMPION)
                .first()
            )
            if (current.pk if current else None) != item.champion.version_id:
                version.reason = (
                    "Not promoted: the champion changed while this run trained; compare and "
                    "promote by hand."
                )
                version.save(update_fields=["reason"])
            else:
                if item.is_feature_index:
                    promote, reason = decide_feature_index(
                        ndcg=item.metrics[f"ndcg@{k}"],
                        champion=item.champion,
                        n_items=len(item.items),
                    )
                else:
                    promote, reason = decide(
                        ndcg=item.metrics[f"ndcg@{k}"],
                        champion=item.champion,
                        tolerance=settings.SHELFWISE_PROMOTION_TOLERANCE,
                        has_holdout=has_holdout,
                    )
                if promote:
                    crown(version=version, user=None, reason=reason)
                else:
                    version.reason = reason
                    version.save(update_fields=["reason"])
            versions.append(version)
        stats = TrainingRun.objects.get(pk=run.pk).stats
        # What a killed earlier attempt wrote: nothing records it, it goes with this success.
        written = {item.artifact for item in fitted}
        leftovers = [p for p in stats.pop(UNRECORDED_ARTIFACTS, []) if p not in written]
        transaction.on_commit(lambda: _delete_artifacts(leftovers))
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.SUCCEEDED,
            error="",  # a lost earlier attempt's note is history now (kept in the attempt log)
            progress=100,
            stage="done",
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            stats={**stats, "timings": timings},
        )
    return versions


def reconcile_stale_runs(*, now: datetime, heartbeat_timeout: timedelta | None = None) -> dict:
    """Recover running runs whose heartbeat went stale: re-queue the same run while it has
    attempts left, otherwise fail it. A run whose lock is still held has a live (if silent)
    worker and is left to its time limit. Queued runs no worker picked up within
    SHELFWISE_QUEUED_TIMEOUT_SECONDS are failed, so a lost message cannot block every later
    trigger. Returns {"requeued": [...], "failed": [...], "expired": [...]}."""
    timeout = heartbeat_timeout or timedelta(seconds=settings.SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS)
    outcome: dict[str, list[int]] = {"requeued": [], "failed": [], "expired": []}
    outcome["expired"] = _expire_unclaimed(now=now)
    for stale in TrainingRun.objects.stale(now=now, heartbeat_timeout=timeout):
        if uses_advisory_locks() and algorithms_locked_elsewhere(stale.algorithms):
            continue
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=stale.pk)
            if run.status != TrainingRun.Status.RUNNING or run.heartbeat_at >= now - timeout:
                continue
            # Its worker is gone and the run is not re-queued yet: what it wrote can go.
            sweep_unrecorded_artifacts(run_id=run.pk)
            run.refresh_from_db(fields=["stats"])
            note = (
                f"attempt {run.attempts}: worker lost (no heartbeat since "
                f"{run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC, stage {run.stage!r})"
            )
            log = [*run.stats.get("attempt_log", []), note]
            run.stats = {**run.stats, "attempt_log": log}
            if run.attempts < settings.SHELFWISE_TRAINING_MAX_ATTEMPTS:
                run.status, run.progress = TrainingRun.Status.QUEUED, 0
                run.stage, run.error = "re-queued after a lost worker", note
                run.heartbeat_at = now
                run.save()
                transaction.on_commit(lambda run_id=run.pk: enqueue_run(run_id=run_id))
                outcome["requeued"].append(run.pk)
            else:
                run.status, run.finished_at = TrainingRun.Status.FAILED, now
                run.stage = "failed"
                run.error = f"Gave up after {run.attempts} attempts; last: {note}"
                run.save()
                outcome["failed"].append(run.pk)
    return outcome


def _expire_unclaimed(*, now: datetime) -> list[int]:
    limit = timedelta(seconds=settings.SHELFWISE_QUEUED_TIMEOUT_SECONDS)
    unclaimed = TrainingRun.objects.filter(
        status=TrainingRun.Status.QUEUED, heartbeat_at__lt=now - limit
    )
    expired = list(unclaimed.values_list("pk", flat=True))
    unclaimed.filter(pk__in=expired).update(
        status=TrainingRun.Status.FAILED,
        stage="failed",
        finished_at=now,
        error=(
            f"No worker picked this run up within {limit}; is a worker consuming the "
            "'train' queue? Trigger a new run once it is."
        ),
    )
    return expired
