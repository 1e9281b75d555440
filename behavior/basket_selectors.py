"""Products bought or browsed together with a product: shared orders and sessions, counted per
product from index-backed queries (serving caches the counts).

A basket is an order (the order id of a purchase), else a session of one shopper (shopper,
session id). The product's latest ``BASKETS`` baskets are counted, orders and sessions apart:
only a shared order is "bought together"; a session without an order is browsing (views,
carts), so its count ranks below every co-purchase and its reason says "browsed".

The previous single query matched baskets on a combined order-or-session expression no index
serves: a sequential scan of every event, ~0.6 s for a popular Online Retail product (400k
events) and growing with the table. Split, the order half uses the order-id index and the
session half the partial (shopper, session) index of order-less events: ~35 ms for a demo
best-seller whose sessions' shoppers have 41k events (1.5 s when it probed (shopper, time)
and the planner preferred hashing the whole table).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db import connection

from behavior.models import Event, EventKind

BASKETS = 500  # the product's latest baskets; older ones rarely change the top of the list
EVENTS_SCANNED = 2000  # of the product's latest events, where those baskets are found
TOP = 200


def co_occurrence_counts(
    *, product_id: int, before: datetime | None = None
) -> list[tuple[int, int, int]]:
    """(product pk, shared orders, shared order-less sessions) for products in the same orders
    or sessions as ``product_id``: most shared orders first, then most sessions (ties by pk),
    at most ``TOP``; the product itself never. With ``before`` (a past clock), from the events
    that occurred before it."""
    orders, sessions = _latest_baskets(product_id, before)
    in_orders = Counter(dict(_order_counts(orders, product_id, before))) if orders else Counter()
    in_sessions = (
        Counter(dict(_session_counts(sessions, product_id, before))) if sessions else Counter()
    )
    # A shared order is a purchase of both; sessions mostly compare alternatives, so any
    # co-purchase outranks any amount of co-browsing.
    return sorted(
        ((pk, in_orders[pk], in_sessions[pk]) for pk in in_orders.keys() | in_sessions.keys()),
        key=lambda item: (-item[1], -item[2], item[0]),
    )[:TOP]


def _latest_baskets(
    product_id: int, before: datetime | None
) -> tuple[list[str], list[tuple[int, str]]]:
    """The order ids of the product's latest purchases and the (shopper, session) pairs of its
    latest other events without an order id."""
    events = Event.objects.filter(product_id=product_id)
    if before is not None:
        events = events.filter(occurred_at__lt=before)
    rows = events.order_by("-occurred_at").values_list(
        "shopper_id", "kind", "order_id", "session_id"
    )[:EVENTS_SCANNED]
    baskets: dict[tuple[int, str, str], None] = {}  # insertion-ordered: newest first
    for shopper_id, kind, order_id, session_id in rows:
        if order_id and kind == EventKind.PURCHASE:
            baskets.setdefault((0, order_id, ""), None)
        elif order_id:
            continue  # an order id on a view or cart: not a purchase, not an order-less session
        elif session_id:
            baskets.setdefault((shopper_id, "", session_id), None)
        if len(baskets) >= BASKETS:
            break
    orders = [order for _s, order, _session in baskets if order]
    sessions = [(shopper, session) for shopper, order, session in baskets if not order]
    return orders, sessions


def _order_counts(
    orders: list[str], product_id: int, before: datetime | None
) -> list[tuple[int, int]]:
    if connection.vendor == "postgresql":
        # DISTINCT first, then count: a hash aggregate instead of count(DISTINCT)'s sort.
        return _fetch(
            f"SELECT product_id, count(*) FROM (SELECT DISTINCT product_id, order_id"
            f" FROM {Event._meta.db_table} WHERE order_id = ANY(%s) AND kind = %s"
            f" AND product_id IS NOT NULL AND product_id <> %s{_before_sql('', before)})"
            f" baskets GROUP BY product_id",
            [orders, EventKind.PURCHASE.value, product_id, *_before_params(before)],
        )
    pairs = (
        Event.objects.filter(order_id__in=orders, kind=EventKind.PURCHASE, product_id__isnull=False)
        .filter(**_before_filter(before))
        .exclude(product_id=product_id)
        .values_list("product_id", "order_id")
        .distinct()
    )
    return list(Counter(pk for pk, _order in pairs).items())


def _session_counts(
    sessions: list[tuple[int, str]], product_id: int, before: datetime | None
) -> list[tuple[int, int]]:
    if connection.vendor == "postgresql":
        # One probe per basket of the (shopper, session) index of order-less events (the
        # conditions repeat its predicate so the planner can use it).
        return _fetch(
            f"SELECT product_id, count(*) FROM (SELECT DISTINCT o.product_id, o.shopper_id,"
            f" o.session_id FROM unnest(%s::bigint[], %s::varchar[]) AS m(shopper_id, session_id)"
            f" JOIN {Event._meta.db_table} o ON o.shopper_id = m.shopper_id"
            f" AND o.session_id = m.session_id WHERE o.order_id = '' AND o.session_id <> ''"
            f" AND o.product_id IS NOT NULL AND o.product_id <> %s{_before_sql('o.', before)})"
            f" baskets GROUP BY product_id",
            [
                [s for s, _ in sessions],
                [session for _, session in sessions],
                product_id,
                *_before_params(before),
            ],
        )
    wanted = set(sessions)
    rows = (
        Event.objects.filter(
            shopper_id__in={s for s, _ in sessions},
            session_id__in={session for _, session in sessions},
            order_id="",
            product_id__isnull=False,
            **_before_filter(before),
        )
        .exclude(product_id=product_id)
        .values_list("product_id", "shopper_id", "session_id")
        .distinct()
    )
    return list(Counter(pk for pk, s, session in rows if (s, session) in wanted).items())


def _before_sql(alias: str, before: datetime | None) -> str:
    return "" if before is None else f" AND {alias}occurred_at < %s"


def _before_params(before: datetime | None) -> list[datetime]:
    return [] if before is None else [before]


def _before_filter(before: datetime | None) -> dict[str, datetime]:
    return {} if before is None else {"occurred_at__lt": before}


def _fetch(sql: str, params: list) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pk), int(n)) for pk, n in cursor.fetchall()]
