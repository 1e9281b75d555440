"""Products bought or browsed together with a product: shared orders and sessions, counted
lazily per product from index-backed queries and cached for an hour.

A basket is an order (its order id), else a session of one shopper (shopper, session id). The
product's latest ``BASKETS`` baskets are counted. The previous single query matched baskets on
a combined order-or-session expression no index serves: a sequential scan of every event,
~0.6 s for a popular Online Retail product (400k events) and growing with the table. Split,
the order half uses the order-id index and the session half the (shopper, time) index: ~40-80
ms for the same product. Counts move slowly with new baskets, so they are cached apart from
responses (an hour). Precomputing them at training time would remove even the first request's
cost; that belongs to the training pipeline.
"""

from __future__ import annotations

from collections import Counter

from django.db import connection

from behavior.models import Event
from recommender.serving.cache import cached_response, store_entries

BASKETS = 500  # the product's latest baskets; older ones rarely change the top of the list
EVENTS_SCANNED = 2000  # of the product's latest events, where those baskets are found
TOP = 200
COUNTS_SECONDS = 3600


def co_occurrence_counts(*, product_id: int) -> list[tuple[int, int]]:
    """(product pk, shared baskets) for products in the same orders or sessions as
    ``product_id``, most baskets first (ties by pk), at most ``TOP``; the product itself never."""
    key = f"serving:bought-together:v2:{product_id}"
    cached = cached_response(key)
    if isinstance(cached, list):
        return cached
    orders, sessions = _latest_baskets(product_id)
    counts: Counter[int] = Counter()
    if orders:
        counts.update(dict(_order_counts(orders, product_id)))
    if sessions:
        counts.update(dict(_session_counts(sessions, product_id)))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    store_entries({key: (ranked, COUNTS_SECONDS)})
    return ranked


def _latest_baskets(product_id: int) -> tuple[list[str], list[tuple[int, str]]]:
    """The order ids and (shopper, session) pairs of the product's latest baskets."""
    rows = (
        Event.objects.filter(product_id=product_id)
        .order_by("-occurred_at")
        .values_list("shopper_id", "order_id", "session_id")[:EVENTS_SCANNED]
    )
    baskets: dict[tuple[int, str, str], None] = {}  # insertion-ordered: newest first
    for shopper_id, order_id, session_id in rows:
        if order_id:
            baskets.setdefault((0, order_id, ""), None)
        elif session_id:
            baskets.setdefault((shopper_id, "", session_id), None)
        if len(baskets) >= BASKETS:
            break
    orders = [order for _s, order, _session in baskets if order]
    sessions = [(shopper, session) for shopper, order, session in baskets if not order]
    return orders, sessions


def _order_counts(orders: list[str], product_id: int) -> list[tuple[int, int]]:
    if connection.vendor == "postgresql":
        # DISTINCT first, then count: a hash aggregate instead of count(DISTINCT)'s sort.
        return _fetch(
            f"SELECT product_id, count(*) FROM (SELECT DISTINCT product_id, order_id"
            f" FROM {Event._meta.db_table} WHERE order_id = ANY(%s) AND product_id IS NOT NULL"
            f" AND product_id <> %s) baskets GROUP BY product_id",
            [orders, product_id],
        )
    pairs = (
        Event.objects.filter(order_id__in=orders, product_id__isnull=False)
        .exclude(product_id=product_id)
        .values_list("product_id", "order_id")
        .distinct()
    )
    return list(Counter(pk for pk, _order in pairs).items())


def _session_counts(sessions: list[tuple[int, str]], product_id: int) -> list[tuple[int, int]]:
    if connection.vendor == "postgresql":
        # One (shopper, time) index probe per basket, its shopper's events filtered by session.
        return _fetch(
            f"SELECT product_id, count(*) FROM (SELECT DISTINCT o.product_id, o.shopper_id,"
            f" o.session_id FROM unnest(%s::bigint[], %s::varchar[]) AS m(shopper_id, session_id)"
            f" JOIN {Event._meta.db_table} o ON o.shopper_id = m.shopper_id"
            f" AND o.session_id = m.session_id WHERE o.order_id = ''"
            f" AND o.product_id IS NOT NULL AND o.product_id <> %s) baskets GROUP BY product_id",
            [[s for s, _ in sessions], [session for _, session in sessions], product_id],
        )
    wanted = set(sessions)
    rows = (
        Event.objects.filter(
            shopper_id__in={s for s, _ in sessions},
            session_id__in={session for _, session in sessions},
            order_id="",
            product_id__isnull=False,
        )
        .exclude(product_id=product_id)
        .values_list("product_id", "shopper_id", "session_id")
        .distinct()
    )
    return list(Counter(pk for pk, s, session in rows if (s, session) in wanted).items())


def _fetch(sql: str, params: list) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pk), int(n)) for pk, n in cursor.fetchall()]
