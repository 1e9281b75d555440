"""Shop-wide counts of events and shoppers: the dashboard's volumes, daily chart and funnel,
the countries and interests its cold-start page offers, and the trending counts serving ranks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Q

from behavior.models import Event, EventKind, Shopper, TrendingList
from behavior.summary_selectors import events_in, kind_counts_by_day
from catalog.models import Category

FUNNEL_KINDS = (EventKind.VIEW, EventKind.ADD_TO_CART, EventKind.PURCHASE)
# When the trending lists were last stored (Unix seconds, ``trending_lists``), in the shared
# cache: a shop whose lists are not refreshed (no beat) pays no query to find that out. Only a
# hint: the rows decide.
REFRESHED_KEY = "behavior:trending-lists:computed-at"


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
    """Events that occurred in [start, end): the daily summaries plus the newest events."""
    return events_in(start=start, end=end)


def events_chart(*, since: datetime, until: datetime, days: int) -> dict:
    """Chart.js data of the events per UTC day and kind from ``since`` (a midnight) to
    ``until``: one dataset per kind that occurred, a label per day (days without events at 0).

    Read from the daily summaries (30 rows per kind) plus today's and the unsummarised events:
    the scan of a month of events it replaces took 1 s on a 6M-event shop."""
    counts = kind_counts_by_day(start=since, end=until + timedelta(seconds=1))
    labels = [(since + timedelta(days=d)).date() for d in range(days)]
    present = {kind for (_day, kind), n in counts.items() if n}
    kinds = [kind for kind in EventKind.values if kind in present]
    return {
        "labels": [d.isoformat() for d in labels],
        "kinds": kinds,
        "datasets": [
            {"label": EventKind(kind).label, "data": [counts.get((d, kind), 0) for d in labels]}
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


def trending_score_sql(kind_weights: Mapping[str, float]) -> tuple[str, list]:
    """The trending score of a product's events ``e`` grouped together (distinct shoppers, ties
    broken by summed kind weight), as SQL and its parameters: what the live count and the
    stored lists (``trending_lists``) both rank by."""
    case = " ".join("WHEN %s THEN %s" for _ in kind_weights)
    params: list = [p for kind, weight in kind_weights.items() for p in (kind, weight)]
    return f"count(DISTINCT e.shopper_id) + 0.001 * sum(CASE e.kind {case} ELSE 0 END)", params


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
    score, params = trending_score_sql(kind_weights)
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
        f"SELECT e.product_id, {score} AS score"
        f" FROM {Event._meta.db_table} e JOIN {Shopper._meta.db_table} s ON s.id = e.shopper_id"
        f" WHERE {' AND '.join(where)} GROUP BY e.product_id ORDER BY score DESC, e.product_id"
        f" LIMIT {int(limit)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pk), float(score)) for pk, score in cursor.fetchall()]


def stored_trending(
    *, country: str, segment: str, days: int, fresher_than: datetime
) -> list[tuple[int, float]] | None:
    """The stored list of ``country``/``segment`` (``trending_lists``) when a refresh computed
    it over ``days`` after ``fresher_than``; ``[]`` when such a refresh found no events for it;
    None when no such refresh is stored (the caller counts from the events)."""
    refreshed = cache.get(REFRESHED_KEY)
    if refreshed is None or refreshed <= fresher_than.timestamp():
        return None  # no recent refresh, known without a query
    rows = TrendingList.objects.filter(
        Q(country=country, segment=segment) | Q(country="", segment=""),
        days=days,
        computed_at__gt=fresher_than,
    ).values_list("country", "segment", "ranked")
    found = {(c, s): ranked for c, s, ranked in rows}
    if ("", "") not in found:  # stored by every refresh: without it, there is no fresh refresh
        return None
    return [(int(pk), float(score)) for pk, score in found.get((country, segment), [])]
