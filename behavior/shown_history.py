"""What recommendations showed each shopper lately, and what they clicked since: the history
placements' rotation rules and "recently shown" exclusions read (README, "Placements and
rules"), with no database read.

One Redis sorted set per shopper (keyed by a digest of the external id), scored by Unix
seconds:

- a showing of product ``p`` is the member ``s<p>:<tag>`` (``tag``: the response's id tail,
  so one product in two responses is two members), written by the impressions flush in the
  round trip that already carries the counters and the stream entry (recommender.impressions);
- a click on ``p`` (an event carrying a recommendation id, or any view of ``p``) is the member
  ``c<p>``, scored by the latest such event (ZADD GT), written after the event batch commits
  in the real-time cache's round trip (behavior.realtime). Written whether or not a showing
  is there yet: the showing may still wait in a web process's one-second buffer, and comparing
  times makes the arrival order irrelevant.

A click "resets" the count because only showings after the product's latest click count: no
read-modify-write. Each write keeps the newest ``SHELFWISE_SHOWN_HISTORY_MAX`` members (a
trimmed click takes every older showing with it, so counts stay right) and sets the key to
expire ``SHELFWISE_SHOWN_HISTORY_HOURS`` after it, the longest window a rule may ask for.

Redis down: writes are dropped with the batch they travel in, and ``shown_history`` answers
None, so a placement is served without rotation or the exclusion. Without django-redis (the
embedded demo) the same entries live in Django's cache, without atomicity.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# ARGV[1] the size cap, ARGV[2] the TTL, ARGV[3] "GT" (clicks: keep each product's latest)
# or "", then per key its member count n and n score/member pairs. One script for a whole
# batch: a command per shopper cost most of a batch's time in the real-time cache
# (behavior.realtime).
_ADD = """
local limit, ttl, at = tonumber(ARGV[1]), tonumber(ARGV[2]), 4
for i = 1, #KEYS do
  local n = tonumber(ARGV[at])
  if ARGV[3] == 'GT' then
    redis.call('ZADD', KEYS[i], 'GT', unpack(ARGV, at + 1, at + 2 * n))
  else
    redis.call('ZADD', KEYS[i], unpack(ARGV, at + 1, at + 2 * n))
  end
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -limit - 1)
  redis.call('EXPIRE', KEYS[i], ttl)
  at = at + 2 * n + 1
end
return #KEYS
"""


@dataclass
class ShownHistory:
    """One shopper's showings within the window read: product pk → Unix seconds."""

    # Every showing, for "recently shown".
    shown: dict[int, list[float]] = field(default_factory=dict)
    # Only the showings after the product's latest click, for rotation.
    unclicked: dict[int, list[float]] = field(default_factory=dict)

    def shown_since(self, since: float) -> set[int]:
        """Products shown at ``since`` or later."""
        return {pk for pk, times in self.shown.items() if max(times) >= since}

    def shown_at_least(self, times: int, *, since: float) -> set[int]:
        """Products shown ``times`` or more at ``since`` or later, each after its latest click."""
        return {
            pk
            for pk, shown in self.unclicked.items()
            if len(shown) >= times and sum(at >= since for at in shown) >= times
        }

    def unclicked_count(self, pk: int, *, since: float) -> int:
        """Times ``pk`` was shown at ``since`` or later and after its latest click."""
        return sum(1 for at in self.unclicked.get(pk, ()) if at >= since)


def history_name(shopper: str) -> str:
    """The cache entry name of a shopper's history (a digest: external ids are free text)."""
    return f"shown:{hashlib.blake2b(shopper.encode(), digest_size=10).hexdigest()}"


def add_shown(pipe: Any, showings: Iterable[tuple[str, list[int], str, float]]) -> None:
    """Queue on ``pipe`` (a Redis pipeline) the showings: (shopper, product pks, response tag,
    Unix seconds) each; anonymous responses ("" shopper) are not kept."""
    by_shopper: dict[str, dict[str, float]] = {}
    for shopper, product_ids, tag, at in showings:
        # An empty response (an A/B holdout) showed nothing; a ZADD without members would
        # fail the script, and with it the whole pipeline: counts and log entries too.
        if shopper and product_ids:
            members = by_shopper.setdefault(shopper, {})
            members.update((f"s{pk}:{tag}", at) for pk in product_ids)
    if not by_shopper:
        return
    _add(pipe, by_shopper, mode="")


def add_clicks(pipe: Any, clicks: Mapping[str, Mapping[int, float]]) -> None:
    """Queue on ``pipe`` the clicks: shopper → {product pk: Unix seconds of the latest click}."""
    by_shopper = {
        shopper: {f"c{pk}": at for pk, at in products.items()}
        for shopper, products in clicks.items()
        if shopper and products
    }
    if by_shopper:
        _add(pipe, by_shopper, mode="GT")


def _add(pipe: Any, by_shopper: Mapping[str, Mapping[str, float]], *, mode: str) -> None:
    make_key = cache.make_key
    keys: list[str] = []
    args: list[Any] = [settings.SHELFWISE_SHOWN_HISTORY_MAX, _ttl(), mode]
    for shopper, members in by_shopper.items():
        keys.append(make_key(history_name(shopper)))
        args.append(len(members))
        for member, at in members.items():
            args += [repr(at), member]
    # EVALSHA inside the pipeline, which loads the script first when Redis lacks it.
    pipe.register_script(_ADD)(keys=keys, args=args, client=pipe)


def add_shown_to_cache(showings: Iterable[tuple[str, list[int], str, float]]) -> None:
    """``add_shown`` through Django's cache (no django-redis: the embedded demo)."""
    for shopper, product_ids, tag, at in showings:
        if shopper and product_ids:
            members = {f"s{pk}:{tag}": at for pk in product_ids}
            _merge_in_cache(shopper, members, clicks=False)


def add_clicks_to_cache(clicks: Mapping[str, Mapping[int, float]]) -> None:
    for shopper, products in clicks.items():
        if shopper and products:
            _merge_in_cache(shopper, {f"c{pk}": at for pk, at in products.items()}, clicks=True)


def _merge_in_cache(shopper: str, members: dict[str, float], *, clicks: bool) -> None:
    name = history_name(shopper)
    merged = dict(cache.get(name) or {})
    for member, at in members.items():
        merged[member] = max(at, merged.get(member, at)) if clicks else at
    newest = sorted(merged.items(), key=lambda item: item[1])
    cache.set(name, dict(newest[-settings.SHELFWISE_SHOWN_HISTORY_MAX :]), _ttl())


def shown_history(*, shopper: str, now: datetime, hours: float) -> ShownHistory | None:
    """The shopper's showings in the ``hours`` up to ``now`` (one Redis command); an empty
    history for an anonymous shopper, None when Redis cannot be read."""
    if not shopper:
        return ShownHistory()
    until = now.timestamp()
    since = until - hours * 3600
    name = history_name(shopper)
    try:
        # Imported here: behavior.realtime writes clicks through this module.
        from behavior.realtime import _redis

        client = _redis()
        if client is None:
            stored = cache.get(name) or {}
            pairs = [(m.encode(), at) for m, at in stored.items() if since <= at <= until]
        else:
            pairs = client.zrangebyscore(cache.make_key(name), since, until, withscores=True)
    except (RedisError, OSError):
        logger.warning("Redis unavailable: serving without the shown history", exc_info=True)
        return None
    return _parsed(pairs)


def _parsed(pairs: list[tuple[bytes, float]]) -> ShownHistory:
    """Members in score order (oldest first) as showings per product, and those after clicks."""
    history = ShownHistory()
    clicked: dict[int, float] = {}
    for member, at in pairs:
        if member[:1] == b"c":
            clicked[int(member[1:])] = at
            continue
        pk = int(member[1 : member.index(b":")])
        history.shown.setdefault(pk, []).append(at)
    for pk, times in history.shown.items():
        last_click = clicked.get(pk)
        after = times if last_click is None else [at for at in times if at > last_click]
        if after:
            history.unclicked[pk] = after
    return history


def _ttl() -> int:
    return int(settings.SHELFWISE_SHOWN_HISTORY_HOURS * 3600)
