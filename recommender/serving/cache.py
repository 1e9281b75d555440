"""Response caching keyed by everything a response depends on, failing open.

The key holds the shopper's event version, their profile (country, segment, points, interests),
the champion versions, the catalog version and the active promotions. Any change to one of them
makes a new key, so a click, a stock or price change, a promotion or a new points balance is
never answered from a stale entry; old entries simply expire. With Redis down, reads miss and
writes are dropped (django-redis ``IGNORE_EXCEPTIONS``; other errors are caught here), so the
response is computed, not failed.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def response_key(*parts: Any) -> str:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return f"serving:response:{digest}"


def cached_response(key: str) -> Any | None:
    try:
        return cache.get(key)
    except Exception:  # a broken cache must cost a recomputation, not the response
        logger.warning("Response cache unreadable", exc_info=True)
        return None


def store_response(key: str, value: Any) -> None:
    try:
        cache.set(key, value, settings.SHELFWISE_RESPONSE_CACHE_SECONDS)
    except Exception:
        logger.warning("Response cache unwritable", exc_info=True)
