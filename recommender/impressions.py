"""A light-weight log of what was recommended: per-hour counters per product in Redis.

The dashboard needs "times recommended in the last day" per product and "share of the catalog
that recommendations reach", so each API response adds one to its products' counters in the
current hour's hash, never a database write on the serving path. Hours older than a day expire
by themselves.

Counts are gathered in the process and written at most every
``SHELFWISE_IMPRESSIONS_FLUSH_SECONDS`` (default 1 s) in one pipelined round trip (HINCRBY per
distinct product + EXPIRE): a Redis round trip of eleven commands per response cost about a
tenth of a recommendation request's CPU. The price is that other processes' latest second
shows up a second late, and a worker killed outright loses at most that second; a worker that
exits normally flushes on the way out, and reads in this process flush first.

Each response served is also one entry (``record_impressions(..., shown=...)``) appended in the
same round trip to the ``impressions:stream`` stream, which ``recommender.proof.drain`` moves
into the ``Impression`` table; the crash budget is the same second. The same entry adds its
products to the shopper's shown history (``behavior.shown_history``: rotation rules and
"recently shown" exclusions), in the same round trip.

Like the rest of the real-time state it fails open: with Redis down the write is dropped and
the reads answer zero; without django-redis (the embedded demo) the counters live in Django's
cache, without atomicity.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from behavior import shown_history

logger = logging.getLogger(__name__)

WINDOW_HOURS = 24
TTL_SECONDS = (WINDOW_HOURS + 2) * 3600
STREAM_NAME = "impressions:stream"


class _Pending:
    """Impressions counted in this process, not yet written: (hour name, product pk) → count,
    and the served responses (stream entries as JSON)."""

    lock = threading.Lock()
    counts: Counter[tuple[str, int]] = Counter()
    shown: list[str] = []
    # (shopper, product pks, response tag, Unix seconds) per response with a shopper.
    history: list[tuple[str, list[int], str, float]] = []
    since: float | None = None


class Dropped:
    """Served responses whose impression was lost with Redis down, since this process
    started: the metric beside the warning in the log."""

    responses = 0


# Where stream entries wait without django-redis (the embedded demo): drained in-process, and
# capped, since the demo runs no beat and a long session must not grow without bound.
LOCAL_STREAM: list[str] = []
LOCAL_STREAM_MAX = 100_000


def record_impressions(
    *, product_ids: Iterable[int], now: datetime, shown: Mapping[str, Any] | None = None
) -> None:
    """Count one impression for each product shown in a response and, with ``shown``, append
    the response's entry to the impressions stream; never raises."""
    ids = [int(pk) for pk in product_ids]
    if not ids and shown is None:
        return
    name = _hour_name(now)
    with _Pending.lock:
        _Pending.counts.update((name, pk) for pk in ids)
        if shown is not None:
            _Pending.shown.append(json.dumps(shown, separators=(",", ":")))
            if shown.get("shopper"):
                # The id's random tail tells two responses showing one product apart.
                tag = str(shown.get("id", ""))[-12:]
                _Pending.history.append((shown["shopper"], ids, tag, now.timestamp()))
        if _Pending.since is None:
            _Pending.since = time.monotonic()
        due = time.monotonic() - _Pending.since >= settings.SHELFWISE_IMPRESSIONS_FLUSH_SECONDS
    if due:
        flush_impressions()


def flush_impressions() -> None:
    """Write this process's pending impressions in one round trip; never raises."""
    with _Pending.lock:
        batch, _Pending.counts, _Pending.since = _Pending.counts, Counter(), None
        shown, _Pending.shown = _Pending.shown, []
        history, _Pending.history = _Pending.history, []
    if not batch and not shown:
        return
    by_hour: dict[str, Counter[int]] = {}
    for (name, pk), n in batch.items():
        by_hour.setdefault(name, Counter())[pk] += n
    try:
        client = redis_client()
        if client is None:
            for name, counts in by_hour.items():
                stored = Counter(cache.get(name) or {})
                stored.update(counts)
                cache.set(name, dict(stored), TTL_SECONDS)
            LOCAL_STREAM.extend(shown)
            del LOCAL_STREAM[:-LOCAL_STREAM_MAX]
            shown_history.add_shown_to_cache(history)
            return
        pipe = client.pipeline(transaction=False)
        for name, counts in by_hour.items():
            key = cache.make_key(name)
            for pk, n in counts.items():
                pipe.hincrby(key, pk, n)
            pipe.expire(key, TTL_SECONDS)
        for entry in shown:
            # Capped so a stopped drainer cannot fill Redis; past the cap the oldest go.
            pipe.xadd(
                cache.make_key(STREAM_NAME),
                {"e": entry},
                maxlen=settings.SHELFWISE_IMPRESSIONS_STREAM_MAX,
                approximate=True,
            )
        shown_history.add_shown(pipe, history)
        pipe.execute()
    except (RedisError, OSError):
        Dropped.responses += len(shown)
        logger.warning(
            "Redis unavailable: %d impressions not counted, %d served responses not logged",
            batch.total(),
            len(shown),
            exc_info=True,
        )


atexit.register(flush_impressions)


def impressions_last_day(*, now: datetime) -> dict[int, int]:
    """Product pk → times recommended in the 24 hours up to ``now`` (hour granularity)."""
    flush_impressions()
    names = [_hour_name(now - timedelta(hours=h)) for h in range(WINDOW_HOURS)]
    totals: Counter[int] = Counter()
    try:
        client = redis_client()
        if client is None:
            for counts in cache.get_many(names).values():
                totals.update(counts)
            return dict(totals)
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(cache.make_key(name))
        for counts in pipe.execute():
            totals.update({int(pk): int(n) for pk, n in counts.items()})
    except (RedisError, OSError):
        logger.warning("Redis unavailable: impressions unknown", exc_info=True)
    return dict(totals)


def impressions_of(*, product_id: int, now: datetime) -> int:
    """Times ``product_id`` was recommended in the 24 hours up to ``now``."""
    flush_impressions()
    names = [_hour_name(now - timedelta(hours=h)) for h in range(WINDOW_HOURS)]
    try:
        client = redis_client()
        if client is None:
            return sum(c.get(product_id, 0) for c in cache.get_many(names).values())
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.hget(cache.make_key(name), product_id)
        return sum(int(n) for n in pipe.execute() if n is not None)
    except (RedisError, OSError):
        logger.warning("Redis unavailable: impressions unknown", exc_info=True)
        return 0


def _hour_name(at: datetime) -> str:
    return f"impressions:{at:%Y%m%d%H}"


def redis_client():
    if not isinstance(caches["default"], RedisCache):
        return None
    return get_redis_connection("default")
