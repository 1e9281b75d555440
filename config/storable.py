"""What PostgreSQL text cannot hold, checked once for every way data comes in.

A NUL character or a lone UTF-16 surrogate (JSON allows both, Python's csv reads NUL) makes
PostgreSQL answer the whole statement with an error, which would fail a batch of good rows
with it. Services refuse such a value on its own field; the API turns a path key holding one
into a 404 (no stored row can match it).
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
UNSTORABLE_TEXT = "No NUL characters or lone surrogates: PostgreSQL cannot store them."


def unstorable(value: Any) -> bool:
    """True when ``value`` holds text PostgreSQL cannot store, at any nesting depth of dicts
    and lists (a product's attributes)."""
    if isinstance(value, str):
        if NUL in value:
            return True
        if value.isascii():  # the common case: no surrogate possible, no encode needed
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unstorable(item) for item in value)
    return False
