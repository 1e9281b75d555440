"""A light-weight log of what was recommended: per-hour counters per product in Redis.

The dashboard needs "times recommended in the last day" per product and "share of the catalog
that recommendations reach", so each API response adds one to its products' counters in the
current hour's hash: one pipelined round trip (HINCRBY per item + EXPIRE), never a database
write on the serving path. Hours older than a day expire by themselves.

Like the rest of the real-time state it fails open: with Redis down the write is dropped and
the reads answer zero; without django-redis (the embedded demo) the counters live in Django's
cache, without atomicity.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WINDOW_HOURS = 24
TTL_SECONDS = (WINDOW_HOURS + 2) * 3600


def record_impressions(*, product_ids: Iterable[int], now: datetime) -> None:
    """Count one impression for each product shown in a response; never raises."""
    ids = [int(pk) for pk in product_ids]
    if not ids:
        return
    name = _hour_name(now)
    try:
        client = _redis()
        if client is None:
            counts = Counter(cache.get(name) or {})
            counts.update(ids)
            cache.set(name, dict(counts), TTL_SECONDS)
            return
        key = cache.make_key(name)
        pipe = client.pipeline(transaction=False)
        for pk in ids:
            pipe.hincrby(key, pk, 1)
        pipe.expire(key, TTL_SECONDS)
        pipe.execute()
    except (RedisError, OSError):
        logger.warning("Redis unavailable: impressions not counted", exc_info=True)


def impressions_last_day(*, now: datetime) -> dict[int, int]:
    """Product pk → times recommended in the 24 hours up to ``now`` (hour granularity)."""
    names = [_hour_name(now - timedelta(hours=h)) for h in range(WINDOW_HOURS)]
    totals: Counter[int] = Counter()
    try:
        client = _redis()
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
    names = [_hour_name(now - timedelta(hours=h)) for h in range(WINDOW_HOURS)]
    try:
        client = _redis()
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


def _redis():
    if not isinstance(caches["default"], RedisCache):
        return None
    return get_redis_connection("default")
