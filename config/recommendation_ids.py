"""Recommendation ids: made by serving for each response, sent back by the shop on events.

A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. It sorts by
time, so the impressions table's index on it grows at its end like a serial would, and it is
a plain UUID any client library can parse. Python 3.11 has no ``uuid.uuid7``, hence this.
"""

from __future__ import annotations

import os
import re
import time
import uuid

# Accepted on events: any UUID in its usual text form. A foreign or unknown UUID is stored and
# counted as unattributable; anything else is a client bug worth a 400.
_TEXT_FORM = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
FORMAT_HELP = "A recommendation id as served, e.g. 0190f2a4-5b6c-7d8e-9f01-23456789abcd."


def new_recommendation_id(*, now_ms: int | None = None) -> str:
    """A fresh, time-sortable UUID7 as text (``now_ms`` for tests)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits, 74 used
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a, 12 bits
    value |= 0b10 << 62  # the RFC 4122/9562 variant
    value |= rand & ((1 << 62) - 1)  # rand_b, 62 bits
    return str(uuid.UUID(int=value))


def parse_recommendation_id(value: str) -> uuid.UUID | None:
    """The id as a UUID, or None when ``value`` is not a UUID in 36-character text form."""
    # uuid.UUID alone also takes braces, "urn:uuid:", bare hex and misplaced hyphens.
    return uuid.UUID(value) if _TEXT_FORM.fullmatch(value) else None
