"""Reads of shoppers and events: the real-time cache falls back to the first ones when Redis is
down; the dashboard's shopper pages and its event charts read the rest."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate

from behavior.models import EARLIEST_EVENT_TIME, Event, EventKind, Shopper
from catalog.models import Category, Product

# PostgreSQL allows 65,535 bind parameters per statement and older SQLite 32,766: look up in
# chunks well below both.
LOOKUP_CHUNK = 5000
TIMELINE_LENGTH = 25
FUNNEL_KINDS = (EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE)
CHART_CACHE_SECONDS = 60


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
    """Event counts by kind for one product: all time and since ``since`` (one query)."""
    rows = (
        Event.objects.filter(product_id=product_id)
        .values_list("kind")
        .annotate(total=Count("id"), recent=Count("id", filter=Q(occurred_at__gte=since)))
        .order_by()
    )
    return {kind: {"total": total, "recent": recent} for kind, total, recent in rows}


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


def top_countries(*, limit: int) -> list[str]:
    """Country codes with the most shoppers, most first."""
    rows = (
        Shopper.objects.exclude(country="")
        .values_list("country")
        .annotate(n=Count("id"))
        .order_by("-n", "country")[:limit]
    )
    return [country for country, _n in rows]


def interest_categories(*, limit: int) -> list[Category]:
    """Categories shoppers declared most interest in; top-level ones when nobody declared any."""
    declared = list(
        Category.objects.annotate(n=Count("interested_shoppers"))
        .filter(n__gt=0)
        .order_by("-n", "name")[:limit]
    )
    return declared or list(Category.objects.filter(parent=None).order_by("name")[:limit])


# -- event volumes: counts, the daily chart and the funnel -----------------------------------------
def latest_event_time() -> datetime | None:
    return Event.objects.order_by("-occurred_at").values_list("occurred_at", flat=True).first()


def last_received_time() -> datetime | None:
    """When the newest event arrived (the newest row by primary key: received_at has no index)."""
    return Event.objects.order_by("-id").values_list("received_at", flat=True).first()


def events_between(*, start: datetime, end: datetime) -> int:
    return Event.objects.between(start=start, end=end).count()


def events_chart(*, since: datetime, until: datetime, days: int) -> dict:
    """Chart.js data of the events per day and kind from ``since`` to ``until``, cached."""
    window = Event.objects.between(start=since, end=until + timedelta(seconds=1))
    # The chart scans a month of events (40-120 ms on Online Retail's busiest month): a minute
    # old is fresh enough for it, and the funnel is summed from the same counts.
    return cache.get_or_set(
        f"dashboard:events-chart:{since:%Y%m%d}",
        lambda: events_per_day(queryset=window, since=since, days=days),
        CHART_CACHE_SECONDS,
    )


def events_per_day(*, queryset: QuerySet[Event], since: datetime, days: int) -> dict:
    """Chart.js data: one dataset per event kind, a label per day (days without events at 0)."""
    labels = [(since + timedelta(days=d)).date() for d in range(days)]
    counts = (
        queryset.annotate(day=TruncDate("occurred_at"))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    series: dict[str, dict] = {kind: {} for kind in EventKind.values}
    for day, kind, n in counts:
        series.setdefault(kind, {})[day] = n
    kinds = [kind for kind in EventKind.values if series[kind]]
    return {
        "labels": [d.isoformat() for d in labels],
        "kinds": kinds,
        "datasets": [
            {"label": EventKind(kind).label, "data": [series[kind].get(d, 0) for d in labels]}
            for kind in kinds
        ],
    }


def funnel(*, chart: dict) -> list[dict]:
    """Views, carts and purchases summed over ``events_chart``, each as a share of the views."""
    by_kind = {
        kind: sum(d["data"]) for kind, d in zip(chart["kinds"], chart["datasets"], strict=True)
    }
    steps, first = [], by_kind.get(EventKind.VIEW, 0)
    for kind in FUNNEL_KINDS:
        n = by_kind.get(kind, 0)
        steps.append({"kind": kind.label, "count": n, "share": n / first if first else None})
    return steps
