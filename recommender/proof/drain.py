"""Move served responses from the impressions stream into the ``Impression`` table.

Exactly once in effect: entries are read through a consumer group, inserted with
``ON CONFLICT DO NOTHING`` on the recommendation id, and acknowledged (then deleted) only after
the insert committed. A drain killed between commit and acknowledgement leaves the entries
pending; the next drain reads its pending entries first and inserts nothing twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError, ResponseError

from recommender.impressions import LOCAL_STREAM, STREAM_NAME, flush_impressions, redis_client
from recommender.models import Impression

logger = logging.getLogger(__name__)

GROUP = "impressions-drain"
# One consumer name for every drain: a crashed drain's pending entries are then this name's,
# and the next drain (on any worker) reads them back with id "0".
CONSUMER = "drain"
BATCH = 2_000


def drain_impressions(*, batch_size: int = BATCH) -> int:
    """Store every served response waiting in the stream; return how many rows were new."""
    flush_impressions()  # this process's own last second (the embedded demo's only source)
    client = redis_client()
    if client is None:
        entries, LOCAL_STREAM[:] = list(LOCAL_STREAM), []
        return _store([e for e in (_parse(raw) for raw in entries) if e is not None])
    key = cache.make_key(STREAM_NAME)
    try:
        client.xgroup_create(key, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    stored = 0
    for start in ("0", ">"):  # first what a crashed drain left unacknowledged, then new
        while True:
            reply = client.xreadgroup(GROUP, CONSUMER, {key: start}, count=batch_size)
            batch = reply[0][1] if reply else []
            if not batch:
                break
            ids = [entry_id for entry_id, _fields in batch]
            # A pending entry deleted meanwhile comes back with no fields: nothing to store.
            rows = [_parse(fields.get(b"e")) for _id, fields in batch if fields]
            stored += _store([row for row in rows if row is not None])
            # After the commit: a crash before this line replays the batch, harmlessly.
            client.xack(key, GROUP, *ids)
            client.xdel(key, *ids)
    return stored


def _store(rows: list[Impression]) -> int:
    if not rows:
        return 0
    with transaction.atomic():
        before = Impression.objects.filter(pk__in=[r.pk for r in rows]).count()
        Impression.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        after = Impression.objects.filter(pk__in=[r.pk for r in rows]).count()
    return after - before


def _parse(raw: bytes | str | None) -> Impression | None:
    """The row for one stream entry, or None (logged) for an entry no version of serving wrote."""
    try:
        entry = json.loads(raw)
        return Impression(
            recommendation_id=uuid.UUID(entry["id"]),
            placement=entry["placement"][:64],
            variant=entry.get("variant", "")[:64],
            model_version=entry.get("model", "")[:64],
            items=[int(pk) for pk in entry["items"]],
            shopper=entry.get("shopper", "")[:128],
            product=entry.get("product", "")[:64],
            shown_at=datetime.fromisoformat(entry["at"]),
            rules={
                str(int(rule)): [int(pk) for pk in pks]
                for rule, pks in entry.get("rules", {}).items()
            },
        )
    except (TypeError, ValueError, KeyError, AttributeError):
        logger.error("Impressions stream: unreadable entry dropped: %r", raw)
        return None


def pending_impressions() -> int:
    """Entries waiting in the stream (0 when Redis is unreachable): the drain's backlog."""
    client = redis_client()
    if client is None:
        return len(LOCAL_STREAM)
    try:
        return int(client.xlen(cache.make_key(STREAM_NAME)))
    except (RedisError, OSError):
        return 0
