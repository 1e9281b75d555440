"""Reads of shoppers and events (the real-time cache falls back to these when Redis is down)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from behavior.models import EARLIEST_EVENT_TIME, Event, Shopper
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
