"""Where recommendations appear on the shop (a placement) and the merchandiser's rules on them."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from recommender.core import ALGORITHMS
from recommender.serving.registry import slot_names

# Lists about a product rather than a shopper (recommender/serving/products.py).
PRODUCT_STRATEGIES = ("similar", "bought_together")


def strategy_names() -> tuple[str, ...]:
    """What a placement may be served by: every registered slot, then the product lists."""
    return (*slot_names(), *PRODUCT_STRATEGIES)


class Context(models.TextChoices):
    SHOPPER = "shopper", "Shopper (home, account pages)"
    PRODUCT = "product", "Product page (needs ?product=)"
    CART = "cart", "Cart (needs ?cart=; its last item anchors product lists)"


# The audit log (django-simple-history). Kept as objects so ``placements.history`` can write
# one record for a save and its placements together, where the library would write one per step.
PLACEMENT_HISTORY = HistoricalRecords()
RULE_HISTORY = HistoricalRecords(m2m_fields=["placements"])


class Placement(models.Model):
    """A place in the shop's front end that asks for recommendations by name."""

    name = models.SlugField(
        max_length=80,
        unique=True,
        help_text="What the front end asks for: /api/v1/placements/<name>/recommendations, e.g. "
        '"home-for-you".',
    )
    title = models.CharField(max_length=120, help_text="How the dashboard names it.")
    strategy = models.CharField(
        max_length=40,
        default="for_you",
        help_text="The slot that ranks it (for_you, promotions, trending…), or similar / "
        "bought_together for lists about a product.",
    )
    k = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(settings.SHELFWISE_MAX_K)],
        help_text="How many products it shows; a request may ask for fewer.",
    )
    context = models.CharField(
        max_length=10,
        choices=Context.choices,
        default=Context.SHOPPER,
        help_text="What the front end sends with each request.",
    )
    fallback = models.JSONField(
        default=list,
        blank=True,
        help_text='Other slots tried in order while the list is short, e.g. ["trending", '
        '"new_arrivals"].',
    )
    exclude_in_cart = models.BooleanField(
        default=True, help_text="Never show what is already in the shopper's cart."
    )
    exclude_bought = models.BooleanField(
        default=False, help_text="Never show what the shopper has bought before."
    )
    exclude_shown_hours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Never show again what recommendations showed this shopper (anywhere) in "
        "the last this many hours. Empty: no such exclusion.",
    )
    max_per_category = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="At most this many products of one category. Empty: no cap.",
    )
    max_per_brand = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="At most this many products of one brand. Empty: no cap."
    )
    serving_model = models.CharField(
        max_length=40,
        blank=True,
        help_text='The algorithm behind a "for you" slot (e.g. "als"); empty: the champion the '
        "shop's setting chooses (auto). An A/B test's model variant sets this when promoted.",
    )
    min_relevance = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Drop products of its own slot scoring below this share of the slot's best "
        "(0 to 1); the fallback chain fills the gap.",
    )
    is_active = models.BooleanField(default=True, help_text="Switched off: the API answers 404.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = PLACEMENT_HISTORY

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(k__gte=1) & models.Q(k__lte=settings.SHELFWISE_MAX_K),
                name="placement_k_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(min_relevance__gte=0) & models.Q(min_relevance__lte=1),
                name="placement_min_relevance_share",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.name

    @property
    def about_product(self) -> bool:
        return self.strategy in PRODUCT_STRATEGIES

    def clean(self) -> None:
        known = strategy_names()
        errors: dict[str, str] = {}
        if self.strategy not in known:
            errors["strategy"] = f"Unknown strategy {self.strategy!r}; one of {', '.join(known)}."
        elif self.about_product and self.context == Context.SHOPPER:
            errors["context"] = f"{self.strategy} lists need a product or a cart to be about."
        if self.serving_model and self.serving_model not in ALGORITHMS:
            errors["serving_model"] = (
                f"Unknown algorithm {self.serving_model!r}; one of {', '.join(sorted(ALGORITHMS))}."
            )
        chain = self.fallback
        if not isinstance(chain, list) or not all(isinstance(name, str) for name in chain):
            errors["fallback"] = 'A list of strategy names, e.g. ["trending"].'
        else:
            unknown = [name for name in chain if name not in known]
            if unknown:
                errors["fallback"] = f"Unknown strategy: {', '.join(unknown)}."
            elif self.strategy in chain or len(set(chain)) < len(chain):
                errors["fallback"] = "Each strategy at most once, the placement's own not again."
            elif self.context == Context.SHOPPER and any(n in PRODUCT_STRATEGIES for n in chain):
                errors["fallback"] = "Product lists need a product or a cart context."
        hours = self.exclude_shown_hours
        if hours is not None and not 1 <= hours <= settings.SHELFWISE_SHOWN_HISTORY_HOURS:
            errors["exclude_shown_hours"] = (
                f"From 1 to {settings.SHELFWISE_SHOWN_HISTORY_HOURS} hours, the history kept."
            )
        if self.context == Context.SHOPPER and self.pk is not None:
            relative = self.rules.exclude(price_relation="").values_list("name", flat=True)
            if relative:
                errors["context"] = (
                    f"Rule {relative[0]!r} prices products against the page's product: a "
                    "shopper placement has none."
                )
        if errors:
            raise ValidationError(errors)


class RuleKind(models.TextChoices):
    # In the order they apply (``placements.ordering``).
    INCLUDE = "include", "Filter: show only matching products"
    EXCLUDE = "exclude", "Filter: never show matching products"
    BOOST = "boost", "Boost matching products"
    BURY = "bury", "Bury matching products"
    ROTATION = "rotation", "Rotation: drop products shown N times in H hours without a click"
    PIN = "pin", "Pin a product (or the best match) at a position"
    PROMOTION_SHARE = "promotion_share", "Promotion share: at least N promoted products"


class Strength(models.TextChoices):
    WEAK = "weak", "Weak"
    MODERATE = "moderate", "Moderate"
    STRONG = "strong", "Strong"


class RuleState(models.TextChoices):
    DRAFT = "draft", "Draft (preview only)"
    LIVE = "live", "Live"


class PriceRelation(models.TextChoices):
    CHEAPER = "cheaper", "Cheaper than the page's product"
    PRICIER = "pricier", "Pricier than the page's product"
    WITHIN = "within", "Within ± a percentage of the page's product's price"


class Visitors(models.TextChoices):
    ALL = "all", "Everyone"
    NEW = "new", "New shoppers (an id the shop never sent)"
    RETURNING = "returning", "Returning shoppers (known to the shop)"


class Rule(models.Model):
    """A merchandiser's rule on one or more placements; which products it matches is the AND
    of the attributes set (category with its sub-categories, brand, tag, price band, price
    relative to the page's product, stock, promotion)."""

    name = models.CharField(max_length=120, help_text="What it is for, e.g. Summer garden push.")
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    placements = models.ManyToManyField(
        Placement, related_name="rules", help_text="The placements it applies to."
    )
    state = models.CharField(max_length=5, choices=RuleState.choices, default=RuleState.DRAFT)
    priority = models.IntegerField(
        default=0, help_text="Higher first among rules of the same kind (e.g. two pins)."
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: from now on.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until switched off.")
    countries = models.CharField(
        max_length=200,
        blank=True,
        help_text='Only shoppers from these countries, ISO codes comma-separated ("DE,FR"). '
        "Empty: every country.",
    )
    segment = models.CharField(max_length=64, blank=True, help_text="Empty: every segment.")
    audience = models.CharField(max_length=10, choices=Visitors.choices, default=Visitors.ALL)
    # What it matches.
    category = models.ForeignKey(
        "catalog.Category",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Products in this category or below it.",
    )
    brand = models.CharField(max_length=120, blank=True)
    price_min = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    price_max = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    price_relation = models.CharField(
        max_length=10,
        choices=PriceRelation.choices,
        blank=True,
        help_text="Price against the page's product (the cart's last item on a cart "
        "placement); product and cart placements only.",
    )
    price_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="\"Within\": how far from the page's product's price, in percent of it.",
    )
    tag = models.CharField(
        max_length=40, blank=True, help_text="Products carrying this tag (any case)."
    )
    min_stock = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tracked stock at least this (untracked always counts)."
    )
    on_promotion = models.BooleanField(
        null=True, blank=True, help_text="Yes: only promoted products; No: only others."
    )
    # What it does.
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Pin: this product. Empty: the best-ranked product matching the attributes.",
    )
    position = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Pin: the position, 1 = first."
    )
    strength = models.CharField(max_length=10, choices=Strength.choices, blank=True)
    share_count = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Promotion share: at least this many promoted products."
    )
    share_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Promotion share: at least this percent of the list (rounded up), instead of "
        "a count; at most 100.",
    )
    rotation_shows = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Rotation: shown to a shopper this many times without a click…",
    )
    rotation_hours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="…within this many hours, a product drops by the rule's strength.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = RULE_HISTORY

    class Meta:
        ordering = ["-priority", "id"]
        # Editing (change_rule) and publishing are separate: a draft changes nothing shoppers see.
        permissions = [("publish_rule", "Can publish a rule (make a draft live)")]
        indexes = [models.Index(fields=["state", "starts_at", "ends_at"], name="rule_window")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(starts_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="rule_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(share_percent__isnull=True)
                | models.Q(share_percent__gte=1, share_percent__lte=100),
                name="rule_share_percent_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.state})"

    @property
    def is_live(self) -> bool:
        return self.state == RuleState.LIVE

    def in_window(self, at: datetime) -> bool:
        """Whether its schedule contains ``at`` (start inclusive, end exclusive; empty = open)."""
        return (self.starts_at is None or self.starts_at <= at) and (
            self.ends_at is None or at < self.ends_at
        )

    def share_for(self, k: int) -> int:
        """A promotion share's minimum for a list of ``k``: its count, or its percent of ``k``
        rounded up."""
        if self.share_percent:
            return -(-self.share_percent * k // 100)
        return self.share_count or 0

    def clean(self) -> None:
        from placements.rule_checks import rule_errors  # the checks need this module's models

        self.tag = self.tag.strip().casefold()
        errors = rule_errors(self)
        if errors:
            raise ValidationError(errors)


class WhatIfRun(models.Model):
    """One what-if replay of a placement on recent traffic (live rules versus the drafts), its
    progress while it runs and its comparison once done; the newest per placement shows."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    placement = models.ForeignKey(Placement, on_delete=models.CASCADE, related_name="whatifs")
    days = models.PositiveSmallIntegerField(help_text="How many days of recent traffic replayed.")
    rule_ids = models.JSONField(
        default=list, blank=True, help_text="The draft rules tried; empty: every draft."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    stage = models.CharField(max_length=200, blank=True, help_text="What it is doing now.")
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last sign of life from the worker replaying it (queued: when it was queued).",
    )
    result = models.JSONField(default=dict, blank=True, help_text="The comparison, once done.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["placement", "-created_at"], name="whatif_newest")]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="whatif_progress")
        ]

    def __str__(self) -> str:
        return f"What-if #{self.pk} on {self.placement_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


# A/B tests on placements: their models live in placements.experiments and load with this app.
from placements.experiments.models import Experiment, Variant  # noqa: E402, F401
