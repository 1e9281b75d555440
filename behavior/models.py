"""Who shops and what they do: shoppers and their events (the source of truth for training)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django_countries.fields import CountryField

from behavior.kinds import EVENT_KINDS, product_required, productless_kinds
from catalog.models import Category, Product


class Shopper(models.Model):
    external_id = models.CharField(
        max_length=128, unique=True, help_text="The shop's own customer id."
    )
    country = CountryField(
        blank=True,
        db_index=True,
        help_text='ISO 3166-1 code, e.g. DE; shown by name. Drives "trending in <country>".',
    )
    segment = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="Customer segment, e.g. vip, new, wholesale.",
    )
    points_balance = models.PositiveIntegerField(
        default=0, help_text="Loyalty points the shopper can redeem."
    )
    interests = models.ManyToManyField(
        Category,
        blank=True,
        related_name="interested_shoppers",
        help_text="Declared interests, used to recommend before the shopper has any history.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Bumped in the transaction that stores the shopper's events (behavior.services), so it is
    # never behind PostgreSQL: real-time caches are keyed by it and cannot outlive a missed write.
    events_version = models.BigIntegerField(
        default=0,
        db_default=0,
        editable=False,
        help_text="Changes whenever the shopper's events change; used to keep caches current.",
    )

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_balance__gte=0), name="shopper_points_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


# EventKind.VIEW, EventKind.ADD_TO_CART, …: one member per row of behavior/kinds.py.
EventKind = models.TextChoices(
    "EventKind", [(name.upper(), (name, kind.label)) for name, kind in EVENT_KINDS.items()]
)


class EventQuerySet(models.QuerySet):
    def between(self, *, start: datetime, end: datetime) -> EventQuerySet:
        return self.filter(occurred_at__gte=start, occurred_at__lt=end)

    def purchases(self) -> EventQuerySet:
        return self.filter(kind=EventKind.PURCHASE)


# The earliest event time ingestion accepts: PostgreSQL keeps dates BC that Python cannot read
# back (an event at 0001-01-01T00:30+01:00 is 1 BC in UTC and broke serving and every training
# run), and nothing a shop tracks happened before the Unix epoch.
EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# The last position a recommended item can have: a response holds at most SHELFWISE_MAX_K (100).
MAX_POSITION = 100


def _kind_constraints() -> list[models.CheckConstraint]:
    """The table's value ranges and product rule, as the database enforces them.

    Built so the constraints of today's table read exactly as migration 0001 wrote them.
    """
    ranges = [
        models.CheckConstraint(
            condition=~Q(kind=name)
            | Q(value__gte=kind.value_range[0], value__lte=kind.value_range[1]),
            name=f"event_{name}_in_range",
        )
        for name, kind in EVENT_KINDS.items()
        if kind.value_range is not None
    ]
    product = Q(product__isnull=False)
    for name in reversed(productless_kinds()):
        product = Q(kind=name) | product
    return [
        *ranges,
        models.CheckConstraint(condition=product, name="event_product_required_unless_search"),
    ]


class Event(models.Model):
    """One thing a shopper did. Immutable once stored; ``event_id`` makes retries safe."""

    event_id = models.CharField(
        max_length=128,
        help_text="The client's id for this event; a resent event with the same id is ignored.",
    )
    # No single-column FK indexes: the (shopper, occurred_at) and (product, occurred_at) indexes
    # lead with these columns, and every extra index costs the bulk import on each row.
    shopper = models.ForeignKey(
        Shopper, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    product = models.ForeignKey(
        Product,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        help_text="Empty only for searches.",
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    value = models.FloatField(
        default=1.0, help_text="Quantity for purchases and carts, 1–5 for ratings."
    )
    query = models.CharField(max_length=255, blank=True, help_text="Search text, for searches.")
    session_id = models.CharField(max_length=128, blank=True)
    order_id = models.CharField(max_length=128, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    # What attribution reads (README, "Proving it works"): the response the shopper followed.
    recommendation_id = models.UUIDField(
        null=True,
        blank=True,
        help_text="The recommendation the shopper followed to this product, when the shop sent "
        "it (views, carts and purchases only).",
    )
    position = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Where the product was in that recommendation (1 = first)."
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["shopper", "occurred_at"], name="event_shopper_time"),
            models.Index(fields=["product", "occurred_at"], name="event_product_time"),
            models.Index(fields=["occurred_at"], name="event_time"),
            models.Index(fields=["order_id"], name="event_order"),
            # Partial: most events follow no recommendation, and attribution only joins these.
            models.Index(
                fields=["recommendation_id"],
                name="event_recommendation",
                condition=Q(recommendation_id__isnull=False),
            ),
            # "Browsed together" finds the events of a product's order-less sessions: without it
            # PostgreSQL hashed the whole events table (1.5 s for a best-seller of a 600k-event
            # shop); with it, one short probe per session (35 ms).
            models.Index(
                fields=["shopper", "session_id"],
                name="event_shopper_session",
                condition=Q(order_id="") & ~Q(session_id=""),
            ),
        ]
        constraints = [
            # A constraint rather than unique=True: the same guarantee (and ON CONFLICT target)
            # without the varchar_pattern_ops index Django adds for LIKE lookups.
            models.UniqueConstraint(fields=["event_id"], name="event_id_unique"),
            models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_known"),
            *_kind_constraints(),
            models.CheckConstraint(condition=Q(value__gte=0), name="event_value_not_negative"),
        ]

    def __str__(self) -> str:
        target = (self.product_id and f"product {self.product_id}") or repr(self.query)
        return f"{self.shopper_id} {self.kind} {target} at {self.occurred_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        kind = EVENT_KINDS.get(self.kind)
        problem = kind and self.value is not None and kind.value_problem(self.value)
        if problem:
            errors["value"] = problem
        if self.value is not None and self.value < 0:
            errors["value"] = "The value cannot be negative."
        names_product = kind is None or kind.names_product  # an unknown kind fails its choices
        if names_product and self.product_id is None:
            errors["product"] = product_required()
        if not names_product and not self.query and self.product_id is None:
            errors["query"] = f"A {self.kind} needs its query text."
        if errors:
            raise ValidationError(errors)


# -- daily summaries (behavior.summaries keeps them current; the dashboard reads them) -----------
class ProductDayCount(models.Model):
    """How many events of one kind one product had on one UTC day."""

    day = models.DateField()
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    events = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # Also the product page's index: one product's rows, all days.
            models.UniqueConstraint(fields=["product", "kind", "day"], name="product_day_unique"),
        ]
        # A refresh deletes and rewrites whole days.
        indexes = [models.Index(fields=["day"], name="product_day_day")]

    def __str__(self) -> str:
        return f"{self.product_id} {self.kind} on {self.day}: {self.events}"


class KindDayCount(models.Model):
    """How many events of one kind shoppers of one country had on one UTC day (the shopper's
    country when the day was summarised; "" for none)."""

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    country = models.CharField(max_length=2, blank=True)
    events = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "country"], name="kind_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} in {self.country or '-'} on {self.day}: {self.events}"


class EventSummaryState(models.Model):
    """The one row saying which events the daily summaries hold: every event with an id up to
    ``summarised_through`` (newer ones are counted from the events table when read)."""

    summarised_through = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"events summarised through id {self.summarised_through}"


class TrendingList(models.Model):
    """The products most shoppers of one country and/or segment touched in the trending window,
    as the last refresh ranked them (``behavior.trending_lists``): what live requests read
    instead of counting weeks of events. "" in ``country`` or ``segment`` means every one."""

    country = models.CharField(max_length=2, blank=True)
    segment = models.CharField(max_length=64, blank=True)
    days = models.PositiveSmallIntegerField()
    # [[product pk, score], ...] best first; score = distinct shoppers + 0.001 x kind weight.
    ranked = models.JSONField(default=list)
    # The newest event when it was computed: the window's anchor, as the live count's.
    newest_event = models.DateTimeField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["country", "segment"], name="trending_list_unique"),
        ]

    def __str__(self) -> str:
        return f"trending in {self.country or '*'}/{self.segment or '*'}: {len(self.ranked)}"
