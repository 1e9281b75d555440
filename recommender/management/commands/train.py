"""``manage.py train``: retrain models now, inline or through the worker, with a progress bar."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender.models import TrainingRun
from recommender.training.services import (
    BrokerUnavailable,
    TrainingAlreadyRunning,
    UnknownAlgorithm,
    run_training,
    start_training,
)

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = (
        "Train the recommendation models. Without a broker (or with --inline) the run executes "
        "here; otherwise it is queued for the training worker (--wait follows it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--algorithm",
            action="append",
            dest="algorithms",
            metavar="NAME",
            help="Train only this algorithm (repeatable). Default: SHELFWISE_TRAINING_ALGORITHMS.",
        )
        parser.add_argument(
            "--wait", action="store_true", help="With a broker: follow the queued run to its end."
        )
        parser.add_argument(
            "--inline", action="store_true", help="Train in this process even with a broker."
        )

    def handle(self, *args, algorithms: list[str] | None, wait: bool, inline: bool, **options):
        inline = inline or settings.CELERY_TASK_ALWAYS_EAGER
        try:
            run = start_training(
                triggered_by=TrainingRun.Trigger.COMMAND, algorithms=algorithms, enqueue=not inline
            )
        except UnknownAlgorithm as exc:
            raise CommandError(str(exc)) from exc
        except TrainingAlreadyRunning as exc:
            raise CommandError(f"{exc} Follow it in the dashboard or the API.") from exc
        except BrokerUnavailable as exc:
            raise CommandError(
                f"Run #{exc.run.pk} not queued: {exc.run.error} Use --inline to train here."
            ) from exc
        self.stdout.write(f"Training run #{run.pk}: {', '.join(run.algorithms)}")
        if inline:
            run = self._inline(run)
        elif wait:
            run = self._follow(run)
        else:
            self.stdout.write(f"Queued. Follow it at /api/v1/training-runs/{run.pk}")
            return
        self._summary(run)

    def _inline(self, run: TrainingRun) -> TrainingRun:
        with tqdm(total=100, unit="%", desc="training", leave=True) as bar:

            def on_progress(percent: int, stage: str) -> None:
                bar.set_postfix_str(stage[:60])
                bar.update(percent - bar.n)

            run = run_training(run_id=run.pk, on_progress=on_progress)
            bar.update(run.progress - bar.n)
            return run

    def _follow(self, run: TrainingRun) -> TrainingRun:
        with tqdm(total=100, unit="%", desc="training", leave=True) as bar:
            while not run.is_finished:
                time.sleep(POLL_SECONDS)
                run.refresh_from_db()
                bar.set_postfix_str(f"{run.status}: {run.stage}"[:60])
                bar.update(run.progress - bar.n)
        return run

    def _summary(self, run: TrainingRun) -> None:
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise CommandError(f"Training run #{run.pk} {run.status}: {run.error.strip()}")
        duration = run.duration.total_seconds() if run.duration else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Run #{run.pk} succeeded in {duration:.1f}s: {run.n_events:,} events, "
                f"{run.n_shoppers:,} shoppers, {run.n_products:,} products."
            )
        )
        for version in run.versions.order_by("algorithm"):
            ndcg = version.metrics.get("ndcg@10")
            self.stdout.write(
                f"  {version.algorithm:<12} v{version.pk:<5} {version.status:<9} "
                f"NDCG@10 {ndcg if ndcg is not None else float('nan'):.4f}  {version.reason}"
            )
