"""A catalog version counter in the cache: every catalog write bumps it, readers compare it.

Serving keeps a per-process snapshot of the catalog and rebuilds it when this number moves, so a
stock, price or activity change written through a service shows in the very next response.
It lives in ``catalog`` because the writers are here; ``recommender`` only reads it. With the
cache down, readers fall back to their periodic fingerprint check.
"""

from __future__ import annotations

from config.version_counter import VersionCounter

VERSION_KEY = "catalog:version"
_COUNTER = VersionCounter(VERSION_KEY)


def bump_catalog_version() -> None:
    """Move the catalog version once the current transaction commits. Never raises."""
    _COUNTER.bump()


def catalog_version() -> str:
    """The current version as a string ("0" before the first write or with the cache down)."""
    return _COUNTER.read()
