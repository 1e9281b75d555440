"""Per-shopper real-time state in Redis: the latest events, keyed by the shopper's event version.

Serving reads a shopper's latest events on every request, so they live in Redis as a capped
sorted set scored by ``occurred_at`` (the ``SHELFWISE_RECENT_EVENTS`` newest events, whatever
order they arrive in: a back-dated batch sinks below the real recent ones and is trimmed,
where pushing onto a list's head once evicted them). PostgreSQL stays the source of truth, and
correctness never depends on Redis having accepted a write:

- ``Shopper.events_version`` is bumped in the transaction that stores the events, and the set's
  key holds it (``recent-events-at:<shopper>:<version>``). A reader knows the version from the
  shopper's row, so a set that missed a write (Redis stalled, down, or the process died after
  commit) is simply not found under the new version and is rebuilt from PostgreSQL.
- Writers (after commit) move the set of the version before theirs to their own and add their
  events (RENAME then ZADD, one script). No set for the previous version: nothing to extend,
  the next reader rebuilds, so Redis never holds a partial history. Members carry the event id,
  so an event both rebuilt and recorded is held once.
- A set may hold events newer than its version (a reader's rebuild saw later commits); never
  older ones missing. Serving puts the version into its cache keys, so a stored event
  invalidates that shopper's cached recommendations at once, whatever Redis did.
- The key names differ from the formats before (``recent-events:`` lists, then
  ``recent-events-by-time:`` sets with an INCR'd ``event-version:``): during a rolling deploy
  old and new processes never meet on one key; old keys expire after ``LIST_TTL``. Events stored
  by old processes reach new readers with the shopper's next event.

Redis down never raises (django-redis IGNORE_EXCEPTIONS semantics): reads fall back to
PostgreSQL, writes are logged and dropped. Without django-redis (the embedded demo's
local-memory cache) the same logic runs through Django's cache API, without atomicity.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from redis import Redis
from redis.exceptions import RedisError

from behavior import shown_history
from behavior.models import EventKind, Shopper
from behavior.selectors import RecentEvent, recent_events_from_db

logger = logging.getLogger(__name__)

LIST_TTL = 7 * 24 * 3600  # idle shoppers' lists expire; the next read rebuilds from PostgreSQL
# Above this many events per call (imports), check which lists exist before encoding events:
# a first import of 400k events would otherwise JSON-encode them all for lists that are absent.
BULK = 1000

# Move each shopper's set from the version before the write to the write's version and add the
# events, keeping the newest ``limit``, all in one command (KEYS: previous then new set per
# shopper; ARGV: set size limit, then per shopper its event count n and n score/member pairs).
# One script, not a pipeline: pipelining the commands per shopper cost 300 ms of a 500-event
# batch's 520 ms, and the EXISTS check must be atomic with the RENAME and ZADD.
_RECORD = """
local limit, at = tonumber(ARGV[1]), 2
for i = 1, #KEYS, 2 do
  local n = tonumber(ARGV[at])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 1])
    redis.call('ZADD', KEYS[i + 1], unpack(ARGV, at + 1, at + 2 * n))
    redis.call('ZREMRANGEBYRANK', KEYS[i + 1], 0, -limit - 1)
  end
  at = at + 2 * n + 1
end
return #KEYS / 2
"""
SHOPPERS_PER_CALL = 500  # bounds how long one script holds Redis during a bulk import


@dataclass
class ShopperState:
    """What serving reads from Redis for one request, fetched in one round trip."""

    version: int
    events: list[RecentEvent]
    # Cache entry name → its value, for the names the caller asked for (None where absent).
    entries: dict[str, Any]


class _StoredEvent(Protocol):
    event_id: str
    shopper_id: int
    product_id: int | None
    kind: str
    value: float
    query: str
    occurred_at: Any


def record_events(
    *,
    events: Sequence[_StoredEvent],
    versions: Mapping[int, int],
    shoppers: Mapping[int, str] | None = None,
) -> None:
    """Move committed events' shoppers' sets to their new ``versions`` (shopper id → the events
    version their transaction stored) with the events added, in one round trip; with
    ``shoppers`` (id → external id), the clicks among them go into those shoppers' shown
    histories in the same round trip (``behavior.shown_history``).

    Never raises: with Redis unreachable the events are still safe in PostgreSQL, and readers of
    the new version rebuild from there.
    """
    if not events:
        return
    by_shopper: dict[int, list[_StoredEvent]] = defaultdict(list)
    for event in events:
        by_shopper[event.shopper_id].append(event)
    clicks = _clicks(events, shoppers or {})
    try:
        client = _redis()
        if client is None:
            _record_in_cache(by_shopper, versions)
            shown_history.add_clicks_to_cache(clicks)
            return
        limit = settings.SHELFWISE_RECENT_EVENTS
        cached = _cached_lists(client, versions) if len(events) > BULK else list(by_shopper)
        script = client.register_script(_RECORD)
        pipe = client.pipeline(transaction=False)
        # The backend's own make_key: through the ``cache`` proxy each call pays a
        # context-local lookup (~5 µs), twice per shopper.
        make_key = caches["default"].make_key
        for start in range(0, len(cached), SHOPPERS_PER_CALL):
            keys: list[str] = []
            args: list[Any] = [limit]
            for shopper_id in cached[start : start + SHOPPERS_PER_CALL]:
                version = versions[shopper_id]
                keys += [
                    make_key(_set_name(shopper_id, version - 1)),
                    make_key(_set_name(shopper_id, version)),
                ]
                # Only the batch's newest ``limit`` can be among the shopper's newest.
                latest = sorted(by_shopper[shopper_id], key=lambda e: e.occurred_at)[-limit:]
                args.append(len(latest))
                for event in latest:
                    args += _scored(event)
            script(keys=keys, args=args, client=pipe)
        shown_history.add_clicks(pipe, clicks)
        pipe.execute()
    except (RedisError, OSError):
        logger.warning(
            "Redis unavailable: real-time cache not updated for %d shoppers",
            len(by_shopper),
            exc_info=True,
        )


def _clicks(
    events: Sequence[_StoredEvent], shoppers: Mapping[int, str]
) -> dict[str, dict[int, float]]:
    """External id → {product: Unix seconds of its latest click}: an event that names the
    recommendation it followed, or any view of the product."""
    clicks: dict[str, dict[int, float]] = {}
    for event in events:
        external_id = shoppers.get(event.shopper_id)
        followed = getattr(event, "recommendation_id", None) is not None
        if external_id and event.product_id and (followed or event.kind == EventKind.VIEW):
            at = event.occurred_at.timestamp()
            products = clicks.setdefault(external_id, {})
            products[event.product_id] = max(at, products.get(event.product_id, at))
    return clicks


def _cached_lists(client: Redis, versions: Mapping[int, int]) -> list[int]:
    """The shoppers whose set of the version before the write exists (one extra round trip
    saves encoding a bulk import's events for sets that are absent)."""
    pipe = client.pipeline(transaction=False)
    for shopper_id, version in versions.items():
        pipe.exists(_set_key(shopper_id, version - 1))
    return [s for s, exists in zip(versions, pipe.execute(), strict=True) if exists]


def recent_events_for(*, shopper_id: int) -> list[RecentEvent]:
    """The shopper's latest events, newest first: from Redis, else from PostgreSQL."""
    version = shopper_event_version(shopper_id=shopper_id)
    return shopper_state(shopper_id=shopper_id, version=version).events


def _rebuild(client: Redis, *, shopper_id: int, version: int, limit: int) -> list[RecentEvent]:
    """The latest events from PostgreSQL, cached as the shopper's set for ``version``.

    Read after ``version`` was, so they hold every event up to it (maybe later ones too).
    The previous version's set goes: a writer that failed to move it left it behind.
    """
    events = recent_events_from_db(shopper_id=shopper_id, limit=limit)
    if events:
        key = _set_key(shopper_id, version)
        try:
            pipe = client.pipeline(transaction=False)
            pipe.delete(_set_key(shopper_id, version - 1))
            pipe.zadd(key, dict(_member_scores(events)))
            # Another reader's rebuild may have added a later snapshot's events alongside.
            pipe.zremrangebyrank(key, 0, -limit - 1)
            pipe.expire(key, LIST_TTL)
            pipe.execute()
        except (RedisError, OSError):
            logger.warning("Redis unavailable: recent events not cached", exc_info=True)
    return events


def shopper_state(
    *,
    shopper_id: int | None,
    version: int = 0,
    entries: Sequence[str] = (),
    before: datetime | None = None,
) -> ShopperState:
    """The shopper's latest events (newest first) as of events ``version`` (their
    ``Shopper.events_version``) and the cache entries named in ``entries``, in one Redis round
    trip. Never raises: with Redis down, events come from PostgreSQL and every entry is
    None. With ``before`` (a replay at a past clock): only events that occurred before it, read
    from PostgreSQL, and no cache entry (the set and the caches hold the present).
    """
    limit = settings.SHELFWISE_RECENT_EVENTS
    if before is not None:
        events = (
            []
            if shopper_id is None
            else recent_events_from_db(shopper_id=shopper_id, limit=limit, before=before)
        )
        return ShopperState(version=version, events=events, entries=dict.fromkeys(entries))
    try:
        client = _redis()
        if client is None:
            return _state_from_cache(shopper_id, version, entries, limit)
        pipe = client.pipeline(transaction=False)
        if shopper_id is not None:
            pipe.zrevrange(_set_key(shopper_id, version), 0, limit - 1)
        for name in entries:
            pipe.get(cache.make_key(name))
        replies = pipe.execute()
    except (RedisError, OSError):
        logger.warning("Redis unavailable: reading recent events from PostgreSQL", exc_info=True)
        events = (
            [] if shopper_id is None else recent_events_from_db(shopper_id=shopper_id, limit=limit)
        )
        return ShopperState(version=version, events=events, entries=dict.fromkeys(entries))
    if shopper_id is None:
        return ShopperState(version=0, events=[], entries=_decoded(entries, replies))
    cached = replies[0]
    if cached:
        events = _newest_first(_decode_all(cached))
    else:
        events = _rebuild(client, shopper_id=shopper_id, version=version, limit=limit)
    return ShopperState(version=version, events=events, entries=_decoded(entries, replies[1:]))


def _decoded(names: Sequence[str], replies: list) -> dict[str, Any]:
    return {name: _entry(raw) for name, raw in zip(names, replies, strict=True)}


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
    """A number that changes whenever the shopper gets new events (0 if unknown), from
    PostgreSQL. Serving reads it with the shopper's row instead (one query for both)."""
    found = Shopper.objects.filter(pk=shopper_id).values_list("events_version", flat=True)
    return int(found.first() or 0)


def _redis() -> Redis | None:
    """The raw Redis client when the default cache is django-redis, else None."""
    if not isinstance(caches["default"], RedisCache):
        return None
    return get_redis_connection("default")


def _set_name(shopper_id: int, version: int) -> str:
    # Not "recent-events:" nor "recent-events-by-time:", formats before (see the docstring).
    return f"recent-events-at:{shopper_id}:{version}"


def _set_key(shopper_id: int, version: int) -> str:
    return cache.make_key(_set_name(shopper_id, version))


# One encoder: json.dumps with any option builds a new JSONEncoder per call (half its cost).
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _member_scores(events: Iterable[_StoredEvent | RecentEvent]) -> Iterator[tuple[str, str]]:
    for event in events:
        score, member = _scored(event)
        yield member, score


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


def _record_in_cache(
    by_shopper: dict[int, list[_StoredEvent]], versions: Mapping[int, int]
) -> None:
    limit = settings.SHELFWISE_RECENT_EVENTS
    for shopper_id, shopper_events in by_shopper.items():
        version = versions[shopper_id]
        previous = _set_name(shopper_id, version - 1)
        current = cache.get(previous)
        if current is not None:
            # Merged by time like the Redis set, so back-dated events cannot evict newer ones.
            merged = {member: score for score, member in [*current, *map(_scored, shopper_events)]}
            newest = sorted(merged.items(), key=lambda item: float(item[1]), reverse=True)
            entry = [(score, member) for member, score in newest[:limit]]
            cache.set(_set_name(shopper_id, version), entry, LIST_TTL)
            cache.delete(previous)


def _state_from_cache(
    shopper_id: int | None, version: int, entries: Sequence[str], limit: int
) -> ShopperState:
    found = cache.get_many(list(entries)) if entries else {}
    values = {name: found.get(name) for name in entries}
    if shopper_id is None:
        return ShopperState(version=0, events=[], entries=values)
    events = _recent_from_cache(shopper_id, version, limit)
    return ShopperState(version=version, events=events, entries=values)


def _recent_from_cache(shopper_id: int, version: int, limit: int) -> list[RecentEvent]:
    cached = cache.get(_set_name(shopper_id, version))
    if cached:
        return _newest_first(_decode(member) for _score, member in cached)
    events = recent_events_from_db(shopper_id=shopper_id, limit=limit)
    if events:
        cache.add(_set_name(shopper_id, version), [_scored(e) for e in events], LIST_TTL)
        cache.delete(_set_name(shopper_id, version - 1))
    return events
