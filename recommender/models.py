"""Training runs and the model versions they produce (what serves is the champion per algorithm)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q

from recommender.labels import algorithm_label


class TrainingRunQuerySet(models.QuerySet):
    def active(self) -> TrainingRunQuerySet:
        """Queued or running: a new trigger for the same algorithms would duplicate one of these."""
        return self.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING])

    def stale(self, *, now: datetime, heartbeat_timeout: timedelta) -> TrainingRunQuerySet:
        """Running runs whose worker stopped beating before ``now - heartbeat_timeout``."""
        return self.filter(
            status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - heartbeat_timeout
        )


class TrainingRun(models.Model):
    """One attempt to retrain a set of algorithms, with its progress, data stats and outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        NOT_QUEUED = "not_queued", "Not queued (broker unreachable)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        DASHBOARD = "dashboard", "Dashboard"
        API = "api", "API"
        COMMAND = "command", "Command line"
        RECONCILER = "reconciler", "Reconciler (re-queued after a dead worker)"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.NOT_QUEUED)

    algorithms = models.JSONField(default=list, help_text="Algorithm names trained by this run.")
    params = models.JSONField(
        default=dict, blank=True, help_text="Hyper-parameters per algorithm, as used."
    )
    lock_key = models.CharField(
        max_length=255,
        help_text="The sorted algorithm set; at most one running run per key.",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Percent done."
    )
    stage = models.CharField(max_length=200, blank=True, help_text="What the run is doing now.")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the training worker."
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker started this run."
    )
    triggered_by = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_runs",
    )
    task_id = models.CharField(max_length=64, blank=True, help_text="Celery task id.")
    # The data the run saw: the window and the holdout cut are recorded so metrics can be read
    # against exactly what was trained on.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    holdout_start = models.DateTimeField(
        null=True, blank=True, help_text="Events from here on were held out for evaluation."
    )
    n_shoppers = models.PositiveIntegerField(null=True, blank=True)
    n_products = models.PositiveIntegerField(null=True, blank=True)
    n_events = models.PositiveIntegerField(null=True, blank=True)
    n_interactions = models.PositiveIntegerField(null=True, blank=True)
    stats = models.JSONField(
        default=dict, blank=True, help_text="Timings per stage and other run statistics."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The database-level half of "one run at a time": even if two workers raced past
            # the advisory lock (or on SQLite, which has none), only one row can be running.
            models.UniqueConstraint(
                fields=["lock_key"],
                condition=Q(status="running"),
                name="one_running_run_per_algorithm_set",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="run_progress_max_100"),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat")]

    def __str__(self) -> str:
        return f"Training run #{self.pk} ({', '.join(self.algorithms)}): {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class ModelVersionQuerySet(models.QuerySet):
    def champions(self) -> ModelVersionQuerySet:
        return self.filter(status=ModelVersion.Status.CHAMPION)


class ModelVersion(models.Model):
    """One trained model: an immutable artifact, its offline metrics and whether it serves."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        CHAMPION = "champion", "Champion (serving)"
        RETIRED = "retired", "Retired"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    algorithm = models.CharField(max_length=64, db_index=True)
    run = models.ForeignKey(TrainingRun, on_delete=models.PROTECT, related_name="versions")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True
    )
    artifact = models.CharField(
        max_length=255,
        help_text="Storage path of the artifact directory (models/<algorithm>/<uuid>).",
    )
    params = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Offline metrics on the run's time holdout."
    )
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    reason = models.TextField(
        blank=True, help_text="Why it was (or was not) promoted, in plain words."
    )
    replaced = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The champion this version replaced; rollback restores it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Serving loads "the champion": there must never be two.
            models.UniqueConstraint(
                fields=["algorithm"],
                condition=Q(status="champion"),
                name="one_champion_per_algorithm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.algorithm} v{self.pk} ({self.status})"

    @property
    def algorithm_label(self) -> str:
        return algorithm_label(self.algorithm)

    @property
    def number(self) -> int:
        """This version's place in its algorithm's own sequence (1, 2, 3…), not the global id.

        Selectors annotate it (``recommender.selectors``); otherwise one count query."""
        if self.__dict__.get("_number") is None:
            self._number = ModelVersion.objects.filter(
                algorithm=self.algorithm, pk__lte=self.pk
            ).count()
        return self._number

    @number.setter
    def number(self, value: int) -> None:
        self._number = value

    @property
    def label(self) -> str:
        """ "EASE version 3": what a merchandiser reads for this version."""
        return f"{self.algorithm_label} version {self.number}"

    @property
    def ndcg(self) -> float | None:
        value = self.metrics.get("ndcg@10")
        return None if value is None else float(value)


class Impression(models.Model):
    """One response served to a shopper: what they were shown, by what, when.

    Written by the worker from the impressions stream (``recommender.proof.drain``), never by
    the request; the recommendation id is the key, so a replayed stream entry is a no-op.
    """

    recommendation_id = models.UUIDField(
        primary_key=True, help_text="The id the response carried; events send it back."
    )
    placement = models.CharField(
        max_length=64,
        help_text='Where it was shown: a slot ("for_you"), "similar" or "bought_together".',
    )
    variant = models.CharField(
        max_length=64, blank=True, help_text="The A/B test variant served; empty outside tests."
    )
    model_version = models.CharField(
        max_length=64, blank=True, help_text='The model behind it, e.g. "als@v12"; empty for none.'
    )
    items = models.JSONField(help_text="Product ids in the order shown (position 1 first).")
    shopper = models.CharField(
        max_length=128, blank=True, help_text="The shopper's external id; empty on product pages."
    )
    product = models.CharField(
        max_length=64, blank=True, help_text="The sku a product-page list was about."
    )
    shown_at = models.DateTimeField(help_text="When the response was served.")
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text="Rule id → the product ids it placed, pinned, boosted or buried in this "
        "response (placements only; empty when no rule touched an item).",
    )

    class Meta:
        ordering = ["-shown_at"]
        indexes = [
            # The daily KPI refresh counts one day's rows per placement, variant and model:
            # with the key columns included that count is an index-only scan (10M rows, bench).
            models.Index(
                fields=["shown_at"],
                include=["placement", "variant", "model_version"],
                name="impression_time_key",
            ),
            # Per-rule KPIs: the day's responses some rule touched, an index-only scan over
            # those alone instead of every row's ``rules`` read from the heap (bench/kpis.py).
            models.Index(
                fields=["shown_at"],
                include=["placement", "rules"],
                condition=~Q(rules={}),
                name="impression_rules_time",
            ),
            # View-through attribution: what a purchasing shopper was shown before buying.
            models.Index(fields=["shopper", "shown_at"], name="impression_shopper_time"),
        ]

    def __str__(self) -> str:
        return f"{self.placement} {self.recommendation_id} at {self.shown_at:%Y-%m-%d %H:%M}"


class KpiDay(models.Model):
    """A day's shop-wide figures beside the per-placement rows (``recommender.proof.kpis``)."""

    day = models.DateField(primary_key=True, help_text="UTC day.")
    shop_revenue = models.DecimalField(
        max_digits=16, decimal_places=2, help_text="Every purchase of the day, price x quantity."
    )
    unattributable_events = models.PositiveIntegerField(
        help_text="Events naming a recommendation id Shelfwise never served (or not yet "
        "drained): stored, not attributed."
    )
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"KPIs {self.day}"


class PlacementKpi(models.Model):
    """One day of one placement, variant and model version: what it showed and earned."""

    day = models.DateField()
    placement = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    impressions = models.PositiveIntegerField(default=0, help_text="Responses served.")
    clicks = models.PositiveIntegerField(
        default=0, help_text="Products viewed from a response (each product once per response)."
    )
    carts = models.PositiveIntegerField(default=0, help_text="Add-to-carts attributed.")
    purchases = models.PositiveIntegerField(default=0, help_text="Purchases attributed (click).")
    revenue = models.DecimalField(
        max_digits=16, decimal_places=2, default=0, help_text="Their price x quantity."
    )
    view_through_purchases = models.PositiveIntegerField(
        default=0, help_text="Purchases of a product only shown, not clicked (reported apart)."
    )
    view_through_revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        ordering = ["-day", "placement", "variant", "model_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "placement", "variant", "model_version"], name="placement_kpi_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.placement} {self.model_version or '-'} on {self.day}"


class RuleKpi(models.Model):
    """One day of one merchandising rule: the responses it fired in, and the clicks, carts,
    purchases and revenue of the very items it placed, pinned, boosted or buried."""

    day = models.DateField()
    rule_id = models.PositiveIntegerField(
        help_text="The placements rule (kept as a number: a deleted rule's figures stay)."
    )
    placement = models.CharField(max_length=64)
    impressions = models.PositiveIntegerField(default=0, help_text="Responses it fired in.")
    clicks = models.PositiveIntegerField(default=0, help_text="Its items viewed from them.")
    carts = models.PositiveIntegerField(default=0)
    purchases = models.PositiveIntegerField(default=0, help_text="Its items bought (click).")
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        ordering = ["-day", "placement", "rule_id"]
        constraints = [models.UniqueConstraint(fields=["day", "rule_id"], name="rule_kpi_key")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} ({self.placement}) on {self.day}"
