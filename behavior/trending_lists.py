"""Trending lists, computed off the request path.

Trending per country or segment counts the distinct shoppers of every product over the last
``SHELFWISE_TRENDING_DAYS`` of events. On the scale-30 demo shop (6M events) one such count
took 2.5–10 s: a request that found its cached list expired paid that. The refresh (run by the
event-summaries task every 5 minutes) ranks every list in one grouped statement and stores the
top of each; live requests read one row (``volume_selectors.stored_trending``). A past clock (a
replay) still counts from the events, which a stored list cannot answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max

from behavior.kinds import event_weights
from behavior.models import Event, Shopper, TrendingList
from behavior.volume_selectors import REFRESHED_KEY, trending_counts, trending_score_sql

# Products kept per list: far more than any slot shows after filtering.
LIST_LENGTH = 500
# The lists a refresh stores: every shopper, each country, each segment, each pair of both.
_GROUPS = ("", "country", "segment", "country, segment")


def refresh_trending_lists(
    *,
    now: datetime,
    days: int | None = None,
    kind_weights: Mapping[str, float] | None = None,
    limit: int = LIST_LENGTH,
) -> int:
    """Rank and store every trending list (``trending_counts``'s ranking, its ``limit`` best per
    list) over ``days`` (default SHELFWISE_TRENDING_DAYS) with ``kind_weights`` (default the
    event kinds' weights); returns how many lists. The lists are replaced in one transaction,
    so a reader sees the old set or the new one."""
    days = settings.SHELFWISE_TRENDING_DAYS if days is None else days
    kind_weights = event_weights() if kind_weights is None else kind_weights
    newest = Event.objects.aggregate(newest=Max("occurred_at"))["newest"]
    lists: dict[tuple[str, str], list[list[float]]] = {("", ""): []}
    if newest is not None:
        if connection.vendor == "postgresql":
            lists.update(_ranked_in_one_statement(newest, days, kind_weights, limit))
        else:
            lists.update(_ranked_one_by_one(days, kind_weights, limit))
    rows = [
        TrendingList(
            country=country,
            segment=segment,
            days=days,
            ranked=ranked,
            newest_event=newest or now,
            computed_at=now,
        )
        for (country, segment), ranked in lists.items()
    ]
    with transaction.atomic():
        TrendingList.objects.all().delete()
        TrendingList.objects.bulk_create(rows, batch_size=500)
    cache.set(REFRESHED_KEY, now.timestamp(), None)
    return len(rows)


def _ranked_in_one_statement(
    newest: datetime, days: int, kind_weights: Mapping[str, float], limit: int
) -> dict[tuple[str, str], list[list[float]]]:
    score, weights = trending_score_sql(kind_weights)
    sets = ", ".join(f"({group + ', ' if group else ''}e.product_id)" for group in _GROUPS)
    # Grouped-out columns come back NULL; a shopper's own blank country or segment is "" and
    # is no list of its own (the "every shopper" list already counts them).
    sql = f"""
        SELECT country, segment, product_id, score FROM (
            SELECT country, segment, product_id, score, row_number() OVER (
                       PARTITION BY grouping, country, segment ORDER BY score DESC, product_id
                   ) AS place
            FROM (
                SELECT GROUPING(s.country, s.segment) AS grouping, s.country, s.segment,
                       e.product_id, {score} AS score
                FROM {Event._meta.db_table} e
                JOIN {Shopper._meta.db_table} s ON s.id = e.shopper_id
                WHERE e.occurred_at >= %s AND e.product_id IS NOT NULL
                GROUP BY GROUPING SETS ({sets})
            ) grouped
        ) ranked
        WHERE place <= %s AND country IS DISTINCT FROM '' AND segment IS DISTINCT FROM ''
        ORDER BY country NULLS FIRST, segment NULLS FIRST, place
    """
    lists: dict[tuple[str, str], list[list[float]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*weights, newest - timedelta(days=days), limit])
        for country, segment, pk, value in cursor.fetchall():
            lists.setdefault((country or "", segment or ""), []).append([int(pk), float(value)])
    return lists


def _ranked_one_by_one(
    days: int, kind_weights: Mapping[str, float], limit: int
) -> dict[tuple[str, str], list[list[float]]]:
    """SQLite (the embedded default) has no grouping sets: one count per list."""
    # "" means every country (segment): a shopper without one adds no list of its own.
    keys = {("", "")}
    for country, segment in Shopper.objects.values_list("country", "segment").distinct():
        keys |= {(country, ""), ("", segment), (country, segment)}
    lists = {}
    for country, segment in keys:
        ranked = trending_counts(
            country=country,
            segment=segment,
            before=None,
            days=days,
            kind_weights=kind_weights,
            limit=limit,
        )
        if ranked or (country, segment) == ("", ""):
            lists[(country, segment)] = [[pk, score] for pk, score in ranked]
    return lists
