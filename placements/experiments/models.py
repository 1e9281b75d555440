"""An A/B test on one placement, and its variants (the first is the control)."""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Placement settings a variant may override (serving_model: the "model" variant's algorithm).
OVERRIDABLE = (
    "strategy",
    "serving_model",
    "k",
    "fallback",
    "exclude_in_cart",
    "exclude_bought",
    "max_per_category",
    "max_per_brand",
    "min_relevance",
)


# What a started test keeps fixed on its variants, and why. ``stats.assign`` places a shopper on
# the cumulative weights in position order, so a new weight, order or variant moves shoppers
# between variants; impressions and results name a variant by its name; kind, settings and the
# rule choice are what its shoppers see, so changing them mixes two treatments in one variant.
FIXED_ONCE_STARTED = {
    "position": "a new order would move shoppers between variants",
    "name": "impressions and results name the variant by it",
    "weight": "a new weight would move shoppers between variants",
    "kind": "its shoppers would see something else mid-test",
    "settings": "its shoppers would see something else mid-test",
    "keep_live_rules": "its shoppers would see something else mid-test",
}
RULES_FIXED = "its shoppers would see something else mid-test"
TRY_ANOTHER = "create a new test to try another"


def new_salt() -> str:
    return secrets.token_hex(8)


class ExperimentState(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class Metric(models.TextChoices):
    CTR = "ctr", "Click-through: share of shoppers who clicked"
    CONVERSION = "conversion", "Conversion: share of shoppers who bought through a click"
    REVENUE = "revenue", "Attributed revenue per shopper"
    SHOP_REVENUE = "shop_revenue", "Shop revenue per shopper (all purchases; fits a holdout)"

    @classmethod
    def rates(cls) -> tuple[str, ...]:
        return (cls.CTR, cls.CONVERSION)


class VariantKind(models.TextChoices):
    SETTINGS = "settings", "Placement settings (empty: the placement as it is)"
    MODEL = "model", "Another model behind the placement"
    RULES = "rules", "A rule set: live rules (or none) plus chosen drafts"
    HOLDOUT = "holdout", "No recommendations (holdout)"


class Experiment(models.Model):
    """Shoppers of one placement split between variants by a salted hash of their id."""

    name = models.CharField(max_length=120, help_text="What it tests, e.g. ALS against auto.")
    placement = models.ForeignKey(
        "placements.Placement", on_delete=models.PROTECT, related_name="experiments"
    )
    state = models.CharField(
        max_length=10, choices=ExperimentState.choices, default=ExperimentState.DRAFT
    )
    salt = models.CharField(
        max_length=32,
        default=new_salt,
        editable=False,
        help_text="Mixed into the hash, so each test splits shoppers afresh.",
    )
    primary_metric = models.CharField(
        max_length=20, choices=Metric.choices, default=Metric.CTR, help_text="What decides it."
    )
    guardrails = models.JSONField(
        default=list,
        blank=True,
        help_text="Other metrics reported beside it, which should not get worse.",
    )
    baseline_rate = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.0001), MaxValueValidator(0.9999)],
        help_text="The control's expected rate for a CTR or conversion test (plans the sample).",
    )
    revenue_cv = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.01)],
        help_text="Revenue per shopper: its standard deviation over its mean (plans the sample).",
    )
    minimum_detectable_effect = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0.001), MaxValueValidator(10.0)],
        help_text="The smallest relative lift worth finding, e.g. 0.05 for +5 %.",
    )
    alpha = models.FloatField(
        default=0.05, validators=[MinValueValidator(0.001), MaxValueValidator(0.2)]
    )
    power = models.FloatField(
        default=0.8, validators=[MinValueValidator(0.5), MaxValueValidator(0.99)]
    )
    planned_sample = models.PositiveIntegerField(
        default=0, help_text="Shoppers per variant before a winner may be called."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    promoted_variant = models.ForeignKey(
        "Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    promotion = models.JSONField(
        null=True, blank=True, help_text="What promoting changed on the placement (before/after)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["placement"],
                condition=models.Q(state="running"),
                name="one_running_experiment_per_placement",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.placement_id} ({self.state})"


class Variant(models.Model):
    """One arm of an experiment: what its shoppers get instead of the placement as it is."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveSmallIntegerField(default=0, help_text="0 is the control.")
    name = models.SlugField(max_length=40, help_text='e.g. "control", "als", "holdout".')
    kind = models.CharField(max_length=10, choices=VariantKind.choices)
    weight = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Percent of shoppers; the variants' weights sum to 100.",
    )
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text='Placement settings it overrides, e.g. {"k": 8, "max_per_brand": 2}.',
    )
    rules = models.ManyToManyField(
        "placements.Rule", blank=True, related_name="+", help_text="Rule set: the drafts it adds."
    )
    keep_live_rules = models.BooleanField(
        default=True, help_text="Rule set: the placement's live rules apply too (else none do)."
    )

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "name"], name="variant_name_unique"),
            models.UniqueConstraint(
                fields=["experiment", "position"], name="variant_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight} %)"

    def save(self, *args, **kwargs) -> None:
        # Refused here too, not only in forms: every path that saves a variant (a service, the
        # shell) must leave a started test's assignment and treatments alone.
        errors = self.fixed_changes()
        if errors:
            raise ValidationError(errors)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        started = _started(self.experiment_id)
        if started is not None:
            raise ValidationError({"experiment": _no_variant_added_or_removed(started)})
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        errors = self.fixed_changes()
        if errors:
            raise ValidationError(errors)

    def fixed_changes(self) -> dict[str, str]:
        """{field: why it may not change} for what this variant changes that its started (or
        ended) experiment keeps fixed; empty for a draft's variant or an unchanged one."""
        stored = Variant.objects.filter(pk=self.pk).values("experiment", *FIXED_ONCE_STARTED)
        before = stored.first() if self.pk is not None else None
        if before is not None and before["experiment"] != self.experiment_id:
            left = _started(before["experiment"])  # taken out of a started test: removed from it
            if left is not None:
                return {"experiment": _no_variant_added_or_removed(left)}
            before = None
        started = _started(self.experiment_id)
        if started is None:
            return {}
        if before is None:
            return {"experiment": _no_variant_added_or_removed(started)}
        return {
            name: f"Fixed since {started}: {reason}; {TRY_ANOTHER}."
            for name, reason in FIXED_ONCE_STARTED.items()
            if getattr(self, name) != before[name]
        }

    def fixed_rules(self) -> dict[str, str]:
        """{"rules": why} when the rule set may not change (the experiment started), else {}."""
        started = _started(self.experiment_id)
        if started is None:
            return {}
        return {"rules": f"Fixed since {started}: {RULES_FIXED}; {TRY_ANOTHER}."}

    @property
    def is_control(self) -> bool:
        return self.position == 0

    @property
    def key(self) -> str:
        """How impressions name it: experiment id and variant name, unique across tests."""
        return f"{self.experiment_id}:{self.name}"


def _started(experiment_id: int | None) -> str | None:
    """ "the A/B test 'x' started" (or "ran") when the experiment is no longer a draft."""
    row = Experiment.objects.filter(pk=experiment_id).values_list("name", "state").first()
    if row is None or row[1] == ExperimentState.DRAFT:
        return None
    verb = "started" if row[1] == ExperimentState.RUNNING else "ran"
    return f"the A/B test {row[0]!r} {verb}"


def _no_variant_added_or_removed(started: str) -> str:
    return (
        f"No variant can be added or removed since {started}: it would move shoppers between "
        f"variants; {TRY_ANOTHER}."
    )
