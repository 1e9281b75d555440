"""Response caching keyed by everything a response depends on, failing open.

The key holds the shopper's event version, their profile (country, segment, points, interests),
the champion versions, the catalog version and the active promotions. Any change to one of them
makes a new key, so a click, a stock or price change, a promotion or a new points balance is
never answered from a stale entry; old entries simply expire. With Redis down, reads miss and
writes are dropped (django-redis ``IGNORE_EXCEPTIONS``; other errors are caught here), so the
response is computed, not failed.

A shopper's response is read in the same Redis round trip as their events, before the event
and catalog versions are known: so it is stored under a name that holds only the request
(``slot_entry_name``), with the digest of everything else beside it (``fresh_entry``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def slot_entry_name(*request: Any) -> str:
    """Where a shopper's response to this request (slot, k, shopper, country) is kept."""
    return f"serving:slot:{_digest(request)}"


def fresh_entry(entry: Any, digest: str) -> Any | None:
    """The cached value of a ``(digest, value)`` entry if it was stored for ``digest``."""
    if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == digest:
        return entry[1]
    return None


def digest_of(*parts: Any) -> str:
    return _digest(parts)


def cached_response(key: str) -> Any | None:
    try:
        return cache.get(key)
    except Exception:  # a broken cache must cost a recomputation, not the response
        logger.warning("Response cache unreadable", exc_info=True)
        return None


def cached_entries(names: list[str]) -> dict[str, Any]:
    """The entries of these names that exist, read in one round trip; {} when unreadable."""
    try:
        return cache.get_many(names)
    except Exception:
        logger.warning("Response cache unreadable", exc_info=True)
        return {}


def store_response(key: str, value: Any) -> None:
    try:
        cache.set(key, value, settings.SHELFWISE_RESPONSE_CACHE_SECONDS)
    except Exception:
        logger.warning("Response cache unwritable", exc_info=True)


def store_entries(entries: dict[str, tuple[Any, int]]) -> None:
    """Write several ``name: (value, seconds)`` entries in one round trip; never raises."""
    if not entries:
        return
    try:
        client = getattr(cache, "client", None)
        if client is None or not hasattr(client, "encode"):  # not django-redis (embedded demo)
            for name, (value, seconds) in entries.items():
                cache.set(name, value, seconds)
            return
        pipe = client.get_client(write=True).pipeline(transaction=False)
        for name, (value, seconds) in entries.items():
            pipe.set(cache.make_key(name), client.encode(value), ex=seconds)
        pipe.execute()
    except Exception:
        logger.warning("Response cache unwritable", exc_info=True)


def _digest(parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
