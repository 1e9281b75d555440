"""The version of the placements' live setup: every write to a placement or a rule moves it."""

from __future__ import annotations

from config.version_counter import VersionCounter

SETUP_VERSION = VersionCounter("placements:version")


def bump_setup_version() -> None:
    """Now and again at commit: a reader that rebuilds in between from rows not yet visible
    memoises them under the first version, which the second moves past (and a transaction that
    never commits, as in a test, still invalidates)."""
    SETUP_VERSION.bump_now()
    SETUP_VERSION.bump()
