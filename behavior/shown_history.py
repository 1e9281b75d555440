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


# KEYS[1] one shopper's history; ARGV[1] the request's time, ARGV[2] the number of questions,
# then per question: since (Unix seconds), the minimum showings, 1 when only showings after
# the product's latest click count (else 0). Replies per question the product ids shown at
# least that often at ``since`` or later. Scores round-trip exactly (17 digits both ways), so
# the bounds compare as they would in Python; ``answered_in_python`` is the same in Python.
_ANSWER = """
local until_, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local since, shows, after_click, earliest = {}, {}, {}, until_
for q = 1, n do
  since[q] = tonumber(ARGV[3 * q])
  shows[q] = tonumber(ARGV[3 * q + 1])
  after_click[q] = ARGV[3 * q + 2] == '1'
  if since[q] < earliest then earliest = since[q] end
end
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], earliest, until_, 'WITHSCORES')
local clicked, counts = {}, {}
for i = 1, #rows, 2 do
  if string.byte(rows[i], 1) == 99 then clicked[string.sub(rows[i], 2)] = tonumber(rows[i + 1]) end
end
for q = 1, n do counts[q] = {} end
for i = 1, #rows, 2 do
  if string.byte(rows[i], 1) == 115 then
    local pk = string.match(rows[i], '^s(%d+):')
    local at, click = tonumber(rows[i + 1]), clicked[pk]
    for q = 1, n do
      if at >= since[q] and not (after_click[q] and click ~= nil and at <= click) then
        counts[q][pk] = (counts[q][pk] or 0) + 1
      end
    end
  end
end
local reply = {}
for q = 1, n do
  local found = {}
  for pk, count in pairs(counts[q]) do
    if count >= shows[q] then found[#found + 1] = tonumber(pk) end
  end
  reply[q] = found
end
return reply
"""


@dataclass(frozen=True)
class ShownQuestions:
    """What a placement asks of one shopper's showings, counted back from the request's time."""

    # "Recently shown": the products shown in the last ``recent_hours`` (0: not asked).
    recent_hours: float = 0.0
    # Rotations: (hours, shows) asks for the products shown at least ``shows`` times in the
    # last ``hours``, counting only showings after the product's latest click.
    rotations: frozenset[tuple[float, int]] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.recent_hours or self.rotations)

    def __or__(self, other: ShownQuestions) -> ShownQuestions:
        return ShownQuestions(
            max(self.recent_hours, other.recent_hours), self.rotations | other.rotations
        )

    def covered_by(self, asked: ShownQuestions) -> bool:
        """Whether the answers to ``asked`` answer these too."""
        recent = not self.recent_hours or self.recent_hours == asked.recent_hours
        return recent and self.rotations <= asked.rotations

    def _asked(self) -> list[tuple[float, int, int]]:
        """(hours, minimum showings, 1 when only those after the latest click count) each:
        the recent question first when asked, then the rotations in a stable order."""
        asked = [(self.recent_hours, 1, 0)] if self.recent_hours else []
        return asked + [(hours, max(shows, 1), 1) for hours, shows in sorted(self.rotations)]


@dataclass(frozen=True)
class ShownHistory:
    """One shopper's showings at one instant, as answers to the ``ShownQuestions`` asked."""

    asked: ShownQuestions
    recent: frozenset[int] = frozenset()
    over_shown: dict[tuple[float, int], frozenset[int]] = field(default_factory=dict)

    def recently_shown(self) -> frozenset[int]:
        """Products shown in the last ``asked.recent_hours``."""
        return self.recent

    def shown_at_least(self, shows: int, *, hours: float) -> frozenset[int]:
        """Products shown ``shows`` or more times in the last ``hours``, each after its latest
        click (a question that was asked: ``asked.rotations``)."""
        return self.over_shown[(hours, shows)]


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


def shown_history(*, shopper: str, now: datetime, questions: ShownQuestions) -> ShownHistory | None:
    """The answers to ``questions`` about the shopper's showings up to ``now`` (one Redis
    command, counted in Redis: a history holds up to ``SHELFWISE_SHOWN_HISTORY_MAX``
    members, and reading them into Python cost more than the rest of a placement's rules); no
    showings for an anonymous shopper, None when Redis cannot be read."""
    if not shopper or not questions:
        return ShownHistory(questions)
    try:
        # Imported here: behavior.realtime writes clicks through this module.
        from behavior.realtime import _redis

        client = _redis()
        if client is None:
            stored = cache.get(history_name(shopper)) or {}
            return answered_in_python(stored, now=now, questions=questions)
        pipe = client.pipeline(transaction=False)
        queue_history_read(pipe, shopper=shopper, now=now, questions=questions)
        (reply,) = pipe.execute()
    except (RedisError, OSError):
        logger.warning("Redis unavailable: serving without the shown history", exc_info=True)
        return None
    return answered_history(reply, questions=questions)


def queue_history_read(
    pipe: Any, *, shopper: str, now: datetime, questions: ShownQuestions
) -> None:
    """Queue on ``pipe`` (a Redis pipeline) the read of ``shown_history``, so a caller can
    carry it in a round trip it makes anyway; ``answered_history`` reads its reply."""
    until = now.timestamp()
    args: list[Any] = [repr(until), len(questions._asked())]
    for hours, shows, after_click in questions._asked():
        args += [repr(until - hours * 3600), shows, after_click]
    key = cache.make_key(history_name(shopper))
    # EVAL, not a registered script's EVALSHA: a pipeline with registered scripts asks Redis
    # whether they exist in a round trip of its own, every time; Redis keeps EVAL's compiled.
    pipe.eval(_ANSWER, 1, key, *args)


def answered_history(reply: list[list[int]], *, questions: ShownQuestions) -> ShownHistory:
    """The script's reply (one list of product ids per question asked) as a history."""
    found = [frozenset(int(pk) for pk in pks) for pks in reply]
    recent = found.pop(0) if questions.recent_hours else frozenset()
    rotations = sorted(questions.rotations)
    return ShownHistory(questions, recent, dict(zip(rotations, found, strict=True)))


def answered_in_python(
    stored: Mapping[str, float], *, now: datetime, questions: ShownQuestions
) -> ShownHistory:
    """``_ANSWER`` on a history's members (member → Unix seconds) in Python: the history kept
    in Django's cache without django-redis (the embedded demo)."""
    until = now.timestamp()
    clicks = {m[1:]: at for m, at in stored.items() if m.startswith("c") and at <= until}
    showings = [
        (m[1 : m.index(":")], at) for m, at in stored.items() if m.startswith("s") and at <= until
    ]
    reply = []
    for hours, shows, after_click in questions._asked():
        since = until - hours * 3600
        counts: dict[str, int] = {}
        for pk, at in showings:
            if at >= since and not (after_click and pk in clicks and at <= clicks[pk]):
                counts[pk] = counts.get(pk, 0) + 1
        reply.append([int(pk) for pk, n in counts.items() if n >= shows])
    return answered_history(reply, questions=questions)


def _ttl() -> int:
    return int(settings.SHELFWISE_SHOWN_HISTORY_HOURS * 3600)
