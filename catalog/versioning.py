"""A catalog version counter in the cache: every catalog write bumps it, readers compare it.

Serving keeps a per-process snapshot of the catalog and rebuilds it when this number moves, so a
stock, price or activity change written through a service shows in the very next response.
It lives in ``catalog`` because the writers are here; ``recommender`` only reads it.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

VERSION_KEY = "catalog:version"


def bump_catalog_version() -> None:
    """Move the catalog version once the current transaction commits. Never raises.

    After commit, so a reader never rebuilds from rows that are still invisible to it. With the
    cache down, readers fall back to their periodic fingerprint check.
    """
    transaction.on_commit(_bump)


def catalog_version() -> str:
    """The current version as a string ("0" before the first write or with the cache down)."""
    try:
        return str(cache.get(VERSION_KEY) or 0)
    except Exception:  # a cache outage must never fail a read path
        logger.warning("Cache unavailable: catalog version unknown", exc_info=True)
        return "0"


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # the key does not exist yet (or was evicted)
        cache.set(VERSION_KEY, int(time.time() * 1000), timeout=None)
    except Exception:  # a cache outage must not fail the write that called us
        logger.warning("Cache unavailable: catalog version not bumped", exc_info=True)
