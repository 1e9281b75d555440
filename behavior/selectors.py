"""Reads of shoppers and their events: the real-time cache's fallback, the dashboard's shopper
pages, and what serving reads of a shopper (their row, their purchases). Shop-wide counts are in
``volume_selectors``, baskets in ``basket_selectors``."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.db import connection
from django.db.models import Count, FloatField, Max, QuerySet, Sum
from django.db.models.expressions import RawSQL

from behavior.models import EARLIEST_EVENT_TIME, Event, EventKind, Shopper
from behavior.summary_selectors import product_kind_counts
from catalog.models import Product

# PostgreSQL allows 65,535 bind parameters per statement and older SQLite 32,766: look up in
# chunks well below both.
LOOKUP_CHUNK = 5000
TIMELINE_LENGTH = 25


@dataclass(frozen=True, slots=True)
class RecentEvent:
    """One of a shopper's latest events, as the serving layer needs it."""

    product_id: int | None
    kind: str
    value: float
    occurred_at: float  # Unix seconds
    query: str = ""
    # Identifies the event in the real-time cache; not part of what serving compares.
    event_id: str = field(default="", compare=False)


def recent_events_from_db(
    *, shopper_id: int, limit: int, before: datetime | None = None
) -> list[RecentEvent]:
    """The shopper's ``limit`` latest events from PostgreSQL, newest first; with ``before``,
    only events that occurred before it (a replay at a past clock)."""
    # Rows before the ingestion floor (stored by older versions) may be years BC, which
    # Python cannot read back: skipping them keeps the shopper servable.
    events = Event.objects.filter(shopper_id=shopper_id, occurred_at__gte=EARLIEST_EVENT_TIME)
    if before is not None:
        events = events.filter(occurred_at__lt=before)
    rows = events.order_by("-occurred_at", "-id").values_list(
        "product_id", "kind", "value", "occurred_at", "query", "event_id"
    )[:limit]
    return [
        RecentEvent(product_id=p, kind=k, value=v, occurred_at=at.timestamp(), query=q, event_id=e)
        for p, k, v, at, q, e in rows
    ]


def product_ids_for_skus(*, skus: Iterable[str]) -> dict[str, int]:
    """Primary keys of the products with these skus; unknown skus are absent."""
    return _ids(Product.objects.all(), "sku", skus)


def shopper_ids_for_external_ids(*, external_ids: Iterable[str]) -> dict[str, int]:
    """Primary keys of the shoppers with these external ids; unknown ids are absent."""
    return _ids(Shopper.objects.all(), "external_id", external_ids)


def _ids(queryset, field: str, keys: Iterable[str]) -> dict[str, int]:
    wanted = list(set(keys))
    if connection.vendor == "postgresql" and wanted:
        # One array parameter, not one per key: the ORM's IN list of 450 skus cost 3.7 ms of
        # client CPU (lookup preparation, client-side placeholder conversion), this 0.8 ms.
        meta = queryset.model._meta
        column, table = meta.get_field(field).column, meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT "{column}", id FROM "{table}" WHERE "{column}" = ANY(%s)', [wanted]
            )
            return dict(cursor.fetchall())
    found: dict[str, int] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        found.update(queryset.filter(**{f"{field}__in": chunk}).values_list(field, "id"))
    return found


# -- shoppers and their activity, for the dashboard ----------------------------------------------


def shopper_search(*, q: str = "", country: str = "", segment: str = "") -> QuerySet[Shopper]:
    """Shoppers whose external id starts with ``q`` (exact country / segment when given)."""
    shoppers = Shopper.objects.all()
    if q:
        shoppers = shoppers.filter(external_id__istartswith=q)
    if country:
        shoppers = shoppers.filter(country=country)
    if segment:
        shoppers = shoppers.filter(segment=segment)
    return shoppers.order_by("external_id")


def activity_of(*, shopper_ids: list[int]) -> dict[int, dict]:
    """Shopper pk → {"events": n, "last": datetime} for a page of shoppers, in one query."""
    rows = (
        Event.objects.filter(shopper_id__in=shopper_ids)
        .values_list("shopper_id")
        .annotate(n=Count("id"), last=Max("occurred_at"))
        .order_by()
    )
    return {pk: {"events": n, "last": last} for pk, n, last in rows}


def shopper_choices() -> dict[str, list[str]]:
    """Distinct countries and segments, for the search filters."""
    return {
        "countries": _distinct("country"),
        "segments": _distinct("segment"),
    }


def _distinct(field: str) -> list[str]:
    values = Shopper.objects.exclude(**{field: ""}).values_list(field, flat=True)
    return list(values.distinct().order_by(field))


def shopper_with_interests(*, external_id: str) -> Shopper | None:
    return Shopper.objects.filter(external_id=external_id).prefetch_related("interests").first()


def timeline(*, shopper: Shopper, limit: int = TIMELINE_LENGTH) -> list[Event]:
    """The shopper's latest events, newest first, with their products."""
    events = Event.objects.filter(shopper=shopper).select_related("product")
    return list(events.order_by("-occurred_at", "-id")[:limit])


def event_count(*, shopper: Shopper) -> int:
    return Event.objects.filter(shopper=shopper).count()


def product_activity(*, product_id: int, since: datetime) -> dict[str, dict[str, int]]:
    """Event counts by kind for one product: all time and since ``since``, from the daily
    summaries (the all-time count of a best-seller scanned its whole history on each view)."""
    return product_kind_counts(product_id=product_id, since=since)


def redeemable_counts(*, points_prices: list[int]) -> dict[int, int]:
    """Points price → how many shoppers hold at least that many points (one query, bisected)."""
    balances = list(
        Shopper.objects.filter(points_balance__gt=0)
        .order_by("points_balance")
        .values_list("points_balance", flat=True)
    )
    return {price: len(balances) - bisect_left(balances, price) for price in points_prices}


def shopper_by_external_id(*, external_id: str) -> Shopper | None:
    return Shopper.objects.filter(external_id=external_id).first()


def shopper_count() -> int:
    return Shopper.objects.count()


# -- what serving reads ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopperFacts:
    """A shopper's row as ranking needs it, interests included."""

    pk: int
    external_id: str
    country: str
    segment: str
    points_balance: int
    # Shopper.events_version: changes with every stored event (keys the shopper's caches).
    events_version: int
    interests: frozenset[int]


def shopper_facts(*, pk: int | None = None, external_id: str = "") -> ShopperFacts | None:
    """The shopper with this ``pk`` (else ``external_id``) and their interests, in one query;
    None when unknown."""
    by_id = pk is not None
    with connection.cursor() as cursor:
        cursor.execute(
            _SHOPPER_SQL["id" if by_id else "external_id"], [pk if by_id else external_id]
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    pk, external_id, country, segment, points, events_version = rows[0][:6]
    return ShopperFacts(
        pk=pk,
        external_id=external_id,
        country=country,
        segment=segment,
        points_balance=points,
        events_version=events_version,
        interests=frozenset(row[6] for row in rows if row[6] is not None),
    )


def _shopper_sql() -> dict[str, str]:
    # Plain SQL: the ORM spent ~0.5 ms compiling each of the two queries this replaces.
    quote = connection.ops.quote_name
    through = Shopper.interests.through._meta
    shopper_column = quote(through.get_field("shopper").column)
    category_column = quote(through.get_field("category").column)
    select = (
        f"SELECT s.id, s.external_id, s.country, s.segment, s.points_balance, s.events_version,"
        f" i.{category_column} FROM {quote(Shopper._meta.db_table)} s"
        f" LEFT JOIN {quote(through.db_table)} i ON i.{shopper_column} = s.id WHERE s."
    )
    return {column: f"{select}{column} = %s" for column in ("id", "external_id")}


_SHOPPER_SQL = _shopper_sql()


def purchase_totals(
    *, shopper_id: int, before: datetime | None, reference: float, rate: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(product pks, purchase counts, last times, decayed frequencies) of the shopper's
    purchases (before ``before`` when given): TIFU-KNN's personal frequency,
    Σ exp((t - reference) · rate), summed per product."""
    bought = Event.objects.filter(shopper_id=shopper_id, kind=EventKind.PURCHASE)
    if before is not None:
        bought = bought.filter(occurred_at__lt=before)
    bought = bought.exclude(product_id=None)
    if connection.vendor == "postgresql":
        return _aggregated_purchases(bought, reference=reference, rate=rate)
    return _summed_purchases(bought, reference=reference, rate=rate)


def purchased_since(*, shopper_ids: list[int], start: datetime) -> dict[int, dict[int, float]]:
    """Shopper pk → product pk → quantity bought at or after ``start`` (one query)."""
    rows = (
        Event.objects.filter(
            kind=EventKind.PURCHASE, shopper_id__in=shopper_ids, occurred_at__gte=start
        )
        .exclude(product_id=None)
        .values("shopper_id", "product_id")
        .annotate(quantity=Sum("value"))
        .order_by()
        .values_list("shopper_id", "product_id", "quantity")
    )
    bought: dict[int, dict[int, float]] = {}
    for shopper_id, product_id, quantity in rows:
        bought.setdefault(shopper_id, {})[product_id] = float(quantity)
    return bought


def _aggregated_purchases(bought, *, reference: float, rate: float) -> tuple[np.ndarray, ...]:
    """Aggregated by PostgreSQL in one query; the exponent is clamped so purchases ~700
    half-lives old underflow to a tiny weight."""
    decay = RawSQL(
        "exp(GREATEST((extract(epoch from occurred_at)::float8 - %s::float8) * %s::float8,"
        " -700.0))",
        (reference, rate),
        output_field=FloatField(),
    )
    rows = list(
        bought.values("product_id")
        .annotate(times=Count("id"), last=Max("occurred_at"), decayed=Sum(decay))
        .order_by()
        .values_list("product_id", "times", "last", "decayed")
    )
    return (
        np.array([row[0] for row in rows], dtype=np.int64),
        np.array([row[1] for row in rows], dtype=np.int64),
        np.array([row[2].timestamp() for row in rows], dtype=np.float64),
        np.array([row[3] for row in rows], dtype=np.float64),
    )


def _summed_purchases(bought, *, reference: float, rate: float) -> tuple[np.ndarray, ...]:
    """The same figures summed here, for databases without PostgreSQL's date arithmetic (the
    embedded demo's SQLite): one row per purchase instead of one per product."""
    rows = list(bought.order_by().values_list("product_id", "occurred_at"))
    product = np.array([row[0] for row in rows], dtype=np.int64)
    at = np.array([row[1].timestamp() for row in rows], dtype=np.float64)
    pks, position = np.unique(product, return_inverse=True)
    times = np.bincount(position, minlength=pks.size).astype(np.int64)
    last = np.full(pks.size, -np.inf)
    np.maximum.at(last, position, at)
    weights = np.exp(np.maximum((at - reference) * rate, -700.0))
    decayed = np.bincount(position, weights=weights, minlength=pks.size)
    return pks, times, last, decayed
