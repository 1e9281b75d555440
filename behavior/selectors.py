"""Reads of shoppers and events: the real-time cache's fallback, and what serving counts (a
shopper's row, their purchases, trending products; baskets are in ``basket_selectors``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db import connection
from django.db.models import Count, FloatField, Max, Sum
from django.db.models.expressions import RawSQL

from behavior.models import EARLIEST_EVENT_TIME, Event, EventKind, Shopper
from catalog.models import Product

# PostgreSQL allows 65,535 bind parameters per statement and older SQLite 32,766: look up in
# chunks well below both.
LOOKUP_CHUNK = 5000


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


def trending_counts(
    *,
    country: str,
    segment: str,
    before: datetime | None,
    days: int,
    kind_weights: Mapping[str, float],
    limit: int,
) -> list[tuple[int, float]]:
    """(product pk, score) of the ``limit`` products most shoppers of ``country``/``segment``
    (all if empty) touched in the ``days`` up to the newest event (before ``before`` when
    given): distinct shoppers, ties broken by summed kind weight; best first."""
    events = Event.objects.all() if before is None else Event.objects.filter(occurred_at__lt=before)
    newest = events.aggregate(newest=Max("occurred_at"))["newest"]
    if newest is None:
        return []
    since = newest - timedelta(days=days)
    case = " ".join("WHEN %s THEN %s" for _ in kind_weights)
    params: list = [p for kind, weight in kind_weights.items() for p in (kind, weight)]
    where = ["e.occurred_at >= %s", "e.product_id IS NOT NULL"]
    params.append(since)
    if before is not None:
        where.append("e.occurred_at < %s")
        params.append(before)
    for column, value in (("country", country), ("segment", segment)):
        if value:
            where.append(f"s.{column} = %s")
            params.append(value)
    sql = (
        f"SELECT e.product_id, count(DISTINCT e.shopper_id)"
        f" + 0.001 * sum(CASE e.kind {case} ELSE 0 END) AS score"
        f" FROM {Event._meta.db_table} e JOIN {Shopper._meta.db_table} s ON s.id = e.shopper_id"
        f" WHERE {' AND '.join(where)} GROUP BY e.product_id ORDER BY score DESC, e.product_id"
        f" LIMIT {int(limit)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pk), float(score)) for pk, score in cursor.fetchall()]
