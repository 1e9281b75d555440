"""Per-shopper real-time state in Redis: the latest events and an event version counter.

Serving reads a shopper's latest events on every request, so they live in Redis as a capped
sorted set scored by ``occurred_at`` (the ``SHELFWISE_RECENT_EVENTS`` newest events, whatever
order they arrive in: a back-dated batch sinks below the real recent ones and is trimmed,
where pushing onto a list's head once evicted them). PostgreSQL stays the source of truth:

- Writers (after commit) only *extend* a set that already exists (ZADD under EXISTS). A missing
  set is rebuilt by the next reader from PostgreSQL, so Redis never holds a partial history.
  Members carry the event id, so an event both rebuilt and recorded is held once.
- The rebuild is skipped when the shopper's version moved while the reader was querying
  PostgreSQL (a Lua check-and-set), so a concurrent event cannot be lost from the list.
- Every stored event INCRs the shopper's version; the serving layer puts it into its cache
  keys, so a new event invalidates that shopper's cached recommendations at once.
- The set's key name differs from the list's that came before (``recent-events:``): during a
  rolling deploy old processes keep their lists and new ones their sets, never a WRONGTYPE; old
  lists expire after ``LIST_TTL``.

Redis down never raises (django-redis IGNORE_EXCEPTIONS semantics): reads fall back to
PostgreSQL, writes are logged and dropped. Without django-redis (the embedded demo's
local-memory cache) the same logic runs through Django's cache API, without atomicity.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis import Redis
from redis.exceptions import RedisError

from behavior.selectors import RecentEvent, recent_events_from_db

logger = logging.getLogger(__name__)

LIST_TTL = 7 * 24 * 3600  # idle shoppers' lists expire; the next read rebuilds from PostgreSQL
# Longer than any cached response, so a version that expires and restarts at 1 cannot
# match a stale cache entry.
VERSION_TTL = 30 * 24 * 3600
# Above this many events per call (imports), check which lists exist before encoding events:
# a first import of 400k events would otherwise JSON-encode them all for lists that are absent.
BULK = 1000

# Rebuild the set only if nobody bumped the version since the reader looked (KEYS: set,
# version; ARGV: version seen, ttl, then score and member per event).
_REBUILD = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Add to the shoppers' existing sets, keep the newest ``limit`` and bump their versions, all
# in one command (KEYS: set then version key per shopper; ARGV: set size limit, version ttl,
# then per shopper its event count n and n score/member pairs). One script, not a pipeline:
# pipelining the commands per shopper cost 300 ms of a 500-event batch's 520 ms, packing
# 1,800 commands, and the EXISTS check must be atomic with the ZADD that would create the set.
_RECORD = """
local limit, ttl, at = tonumber(ARGV[1]), ARGV[2], 3
for i = 1, #KEYS, 2 do
  local n = tonumber(ARGV[at])
  if n > 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('ZADD', KEYS[i], unpack(ARGV, at + 1, at + 2 * n))
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -limit - 1)
  end
  at = at + 2 * n + 1
  redis.call('INCR', KEYS[i + 1])
  redis.call('EXPIRE', KEYS[i + 1], ttl)
end
return #KEYS / 2
"""
SHOPPERS_PER_CALL = 500  # bounds how long one script holds Redis during a bulk import


@dataclass
class ShopperState:
    """What serving reads from Redis for one request, fetched in one round trip."""

    version: int
    events: list[RecentEvent]
    extra: list[Any]  # the values of the requested cache entries, None where absent


class _StoredEvent(Protocol):
    event_id: str
    shopper_id: int
    product_id: int | None
    kind: str
    value: float
    query: str
    occurred_at: Any


def record_events(*, events: Sequence[_StoredEvent]) -> None:
    """Add committed events to their shoppers' sets and bump their versions (one round trip).

    Never raises: with Redis unreachable the events are still safe in PostgreSQL.
    """
    if not events:
        return
    by_shopper: dict[int, list[_StoredEvent]] = defaultdict(list)
    for event in events:
        by_shopper[event.shopper_id].append(event)
    try:
        client = _redis()
        if client is None:
            _record_in_cache(by_shopper)
            return
        limit = settings.SHELFWISE_RECENT_EVENTS
        cached = _cached_lists(client, by_shopper) if len(events) > BULK else set(by_shopper)
        script = client.register_script(_RECORD)
        pipe = client.pipeline(transaction=False)
        shoppers = list(by_shopper)
        # The backend's own make_key: through the ``cache`` proxy each call pays a
        # context-local lookup (~5 µs), twice per shopper.
        make_key = caches["default"].make_key
        for start in range(0, len(shoppers), SHOPPERS_PER_CALL):
            keys: list[str] = []
            args: list[Any] = [limit, VERSION_TTL]
            for shopper_id in shoppers[start : start + SHOPPERS_PER_CALL]:
                keys += [make_key(_list_name(shopper_id)), make_key(_version_name(shopper_id))]
                if shopper_id in cached:
                    # Only the batch's newest ``limit`` can be among the shopper's newest.
                    latest = sorted(by_shopper[shopper_id], key=lambda e: e.occurred_at)[-limit:]
                    args.append(len(latest))
                    for event in latest:
                        args += _scored(event)
                else:
                    args.append(0)
            script(keys=keys, args=args, client=pipe)
        pipe.execute()
    except (RedisError, OSError):
        logger.warning(
            "Redis unavailable: real-time cache not updated for %d shoppers",
            len(by_shopper),
            exc_info=True,
        )


def _cached_lists(client: Redis, by_shopper: dict[int, list[_StoredEvent]]) -> set[int]:
    """The shoppers whose set exists (one extra round trip saves encoding a bulk import)."""
    pipe = client.pipeline(transaction=False)
    for shopper_id in by_shopper:
        pipe.exists(_list_key(shopper_id))
    return {s for s, exists in zip(by_shopper, pipe.execute(), strict=True) if exists}


def recent_events_for(*, shopper_id: int) -> list[RecentEvent]:
    """The shopper's latest events, newest first: from Redis, else from PostgreSQL."""
    return shopper_state(shopper_id=shopper_id).events


def _rebuild(client: Redis, *, shopper_id: int, seen: bytes, limit: int) -> list[RecentEvent]:
    """The latest events from PostgreSQL, cached as the shopper's list unless the version moved
    since ``seen`` was read (a concurrent event would otherwise be missing from the list)."""
    events = recent_events_from_db(shopper_id=shopper_id, limit=limit)
    if events:
        key, version_key = _list_key(shopper_id), _version_key(shopper_id)
        scored = [part for event in events for part in _scored(event)]
        try:
            client.eval(_REBUILD, 2, key, version_key, seen, LIST_TTL, *scored)
        except (RedisError, OSError):
            logger.warning("Redis unavailable: recent events not cached", exc_info=True)
    return events


def shopper_state(
    *, shopper_id: int | None, extra: Sequence[str] = (), before: datetime | None = None
) -> ShopperState:
    """The shopper's event version and latest events (newest first) and the cache entries named
    in ``extra``, in one Redis round trip. Never raises: with Redis down, events come from
    PostgreSQL, the version is 0 and every extra entry is None. With ``before`` (a replay at a
    past clock) only events that occurred before it, which may cost a second round trip.
    """
    limit = settings.SHELFWISE_RECENT_EVENTS
    try:
        client = _redis()
        if client is None:
            state = _state_from_cache(shopper_id, extra, limit)
            if before is not None and shopper_id is not None:
                state.events = recent_events_from_db(
                    shopper_id=shopper_id, limit=limit, before=before
                )
            return state
        pipe = client.pipeline(transaction=False)
        if shopper_id is not None:
            pipe.get(_version_key(shopper_id))
            pipe.zrevrange(_list_key(shopper_id), 0, limit - 1)
        for name in extra:
            pipe.get(cache.make_key(name))
        replies = pipe.execute()
    except (RedisError, OSError):
        logger.warning("Redis unavailable: reading recent events from PostgreSQL", exc_info=True)
        events = (
            []
            if shopper_id is None
            else recent_events_from_db(shopper_id=shopper_id, limit=limit, before=before)
        )
        return ShopperState(version=0, events=events, extra=[None] * len(extra))
    if shopper_id is None:
        return ShopperState(version=0, events=[], extra=[_entry(raw) for raw in replies])
    seen, cached = replies[0] or b"0", replies[1]
    if before is not None:
        events = _events_before(client, shopper_id=shopper_id, before=before, limit=limit)
    elif cached:
        events = _newest_first(_decode_all(cached))
    else:
        events = _rebuild(client, shopper_id=shopper_id, seen=seen, limit=limit)
    return ShopperState(version=int(seen), events=events, extra=[_entry(r) for r in replies[2:]])


def _events_before(
    client: Redis, *, shopper_id: int, before: datetime, limit: int
) -> list[RecentEvent]:
    """The ``limit`` latest events that occurred before ``before``: from the set when it holds
    them all (it keeps the newest ``limit`` overall, so a full set may have trimmed older ones),
    else from PostgreSQL; never cached, as the set holds the latest events, not a past clock's.
    """
    key = _list_key(shopper_id)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.zrevrangebyscore(key, f"({before.timestamp()!r}", "-inf", start=0, num=limit)
        pipe.zcard(key)
        members, size = pipe.execute()
    except (RedisError, OSError):
        members, size = [], 0
    if size and (len(members) == limit or size < limit):
        return _newest_first(_decode_all(members)) if members else []
    return recent_events_from_db(shopper_id=shopper_id, limit=limit, before=before)


def _entry(raw: bytes | None) -> Any:
    """A cache entry read through the raw client, decoded as django-redis stored it."""
    if raw is None:
        return None
    try:
        return cache.client.decode(raw)
    except Exception:  # an unreadable entry is a miss, never a failed request
        logger.warning("Unreadable cache entry ignored", exc_info=True)
        return None


def shopper_event_version(*, shopper_id: int) -> int:
    """A number that changes whenever the shopper gets a new event (0 if unknown or Redis down)."""
    try:
        client = _redis()
        if client is None:
            return int(cache.get(_version_name(shopper_id), 0))
        return int(client.get(_version_key(shopper_id)) or 0)
    except (RedisError, OSError):
        logger.warning("Redis unavailable: event version unknown", exc_info=True)
        return 0


def _redis() -> Redis | None:
    """The raw Redis client when the default cache is django-redis, else None."""
    if not isinstance(caches["default"], RedisCache):
        return None
    return get_redis_connection("default")


def _list_name(shopper_id: int) -> str:
    # Not "recent-events:", the list format before sorted sets (see the module docstring).
    return f"recent-events-by-time:{shopper_id}"


def _version_name(shopper_id: int) -> str:
    return f"event-version:{shopper_id}"


def _list_key(shopper_id: int) -> str:
    return cache.make_key(_list_name(shopper_id))


def _version_key(shopper_id: int) -> str:
    return cache.make_key(_version_name(shopper_id))


# One encoder: json.dumps with any option builds a new JSONEncoder per call (half its cost).
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _scored(event: _StoredEvent | RecentEvent) -> tuple[str, str]:
    """The event's score (Unix seconds, as ``repr`` so Redis parses the same double) and member."""
    at = event.occurred_at
    at = at if isinstance(at, float) else at.timestamp()
    return repr(at), _encode(event, at)


def _encode(event: _StoredEvent | RecentEvent, at: float) -> str:
    # The event id keeps members distinct: equal events (Online Retail repeats invoice lines)
    # stay separate, as in PostgreSQL, and one event rebuilt and recorded is one member.
    return _ENCODER.encode(
        [event.product_id, event.kind, event.value, at, event.query, event.event_id]
    )


def _decode(item: bytes | str) -> RecentEvent:
    product_id, kind, value, at, query, event_id = json.loads(item)
    return RecentEvent(
        product_id=product_id,
        kind=kind,
        value=value,
        occurred_at=at,
        query=query,
        event_id=event_id,
    )


def _decode_all(items: list[bytes]) -> list[RecentEvent]:
    # One JSON document for the whole set: a json.loads per event cost ~50 % more.
    return [
        RecentEvent(product_id=p, kind=k, value=v, occurred_at=at, query=q, event_id=e)
        for p, k, v, at, q, e in json.loads(b"[" + b",".join(items) + b"]")
    ]


def _newest_first(events: Iterable[RecentEvent]) -> list[RecentEvent]:
    # Events can arrive out of order (mobile clients retry late); sort by when they happened.
    return sorted(events, key=lambda e: e.occurred_at, reverse=True)


def _record_in_cache(by_shopper: dict[int, list[_StoredEvent]]) -> None:
    limit = settings.SHELFWISE_RECENT_EVENTS
    for shopper_id, shopper_events in by_shopper.items():
        name = _list_name(shopper_id)
        current = cache.get(name)
        if current is not None:
            # Merged by time like the Redis set, so back-dated events cannot evict newer ones.
            merged = {member: score for score, member in [*current, *map(_scored, shopper_events)]}
            newest = sorted(merged.items(), key=lambda item: float(item[1]), reverse=True)
            cache.set(name, [(score, member) for member, score in newest[:limit]], LIST_TTL)
        try:
            cache.incr(_version_name(shopper_id))
        except ValueError:
            cache.set(_version_name(shopper_id), 1, VERSION_TTL)


def _state_from_cache(shopper_id: int | None, extra: Sequence[str], limit: int) -> ShopperState:
    found = cache.get_many(list(extra)) if extra else {}
    values = [found.get(name) for name in extra]
    if shopper_id is None:
        return ShopperState(version=0, events=[], extra=values)
    version = int(cache.get(_version_name(shopper_id), 0))
    return ShopperState(version=version, events=_recent_from_cache(shopper_id, limit), extra=values)


def _recent_from_cache(shopper_id: int, limit: int) -> list[RecentEvent]:
    cached = cache.get(_list_name(shopper_id))
    if cached:
        return _newest_first(_decode(member) for _score, member in cached)
    events = recent_events_from_db(shopper_id=shopper_id, limit=limit)
    if events:
        cache.add(_list_name(shopper_id), [_scored(e) for e in events], LIST_TTL)
    return events
