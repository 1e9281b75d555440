"""The API's per-user throttle as a fixed-window counter in Redis: one round trip per request.

DRF's ``UserRateThrottle`` keeps every request's timestamp in the cache and reads and rewrites
that whole list on each request: two round trips, and at the default 6,000/min up to 6,000
floats pickled both ways for a busy shop back-end. Here a request costs one pipelined
``INCR`` + ``EXPIRE`` of the current window's counter. The price of a fixed window: a client
may spend one window's allowance at its end and the next at the start of the following one
(up to twice the rate across a boundary), which a throttle meant to stop runaway clients
tolerates. Like the rest of the API it fails open: with Redis unreachable requests are let
through, never refused.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger(__name__)


class UserRateThrottle(throttling.UserRateThrottle):
    """``DEFAULT_THROTTLE_RATES["user"]`` requests per window for each user (by id), else
    per client IP for anonymous callers; a refused request is told when the window ends."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        count = _count(f"{self.key}:{window}", self.duration)
        if count is None or count <= self.num_requests:
            return True
        self.wait_seconds = self.duration - self.now % self.duration
        return False

    def wait(self) -> float:
        return getattr(self, "wait_seconds", None) or float(self.duration)


def _count(name: str, seconds: int) -> int | None:
    """This window's count including this request, or None when the cache is unavailable."""
    try:
        if not isinstance(caches["default"], RedisCache):  # the embedded demo's local memory
            if cache.add(name, 1, seconds):
                return 1
            return cache.incr(name)
        pipe = get_redis_connection("default").pipeline(transaction=False)
        key = cache.make_key(name)
        pipe.incr(key)
        pipe.expire(key, seconds + 1)
        return int(pipe.execute()[0])
    except (RedisError, OSError, ValueError):
        logger.warning("Throttle counter unavailable: request let through", exc_info=True)
        return None
