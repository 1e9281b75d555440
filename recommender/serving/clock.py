"""Which clock a request runs at: live (now) or a replay at a past time.

A live request reads everything stored, as serving always has (every stored event was stored
before now, and a client clock a little ahead must not hide its own click). A request whose
``now`` lies more than ``LIVE_TOLERANCE`` before the wall clock replays the shop at that
time: every read takes only events that occurred before it, and no cache shared with live
requests answers it or is written by it (``recommender.replay`` serves past cut times).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

# Views take ``now`` at the start of the request and tests pin it to a fixture's creation
# time seconds earlier: both are live. A replay is hours or days back.
LIVE_TOLERANCE = timedelta(minutes=1)


def replay_cutoff(now: datetime) -> datetime | None:
    """``now`` when it is a past clock (reads must stop before it), None for a live request."""
    return now if now < timezone.now() - LIVE_TOLERANCE else None


def clock_part(before: datetime | None) -> str:
    """A cache-key component: empty for live requests (their keys do not change), the
    cut-off's Unix time for a past clock, so its entries never answer another clock."""
    return "" if before is None else f"@{before.timestamp()!r}"
