"""Event ingestion: the one path by which shopper events enter the database.

``ingest_events`` validates a batch in plain Python (``event_checks``; a DRF serializer per
event costs about as much as the insert, see ECOSYSTEM.md "Ingestion"), resolves skus and
shopper ids with one query each, and hands the valid rows to ``store_events``. Bulk importers
that validate their own format (Online Retail) call ``store_events`` directly, so every event
goes through the same SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, NamedTuple
from uuid import UUID

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from behavior import realtime
from behavior.bulk_indexes import indexes_rebuilt_after
from behavior.event_checks import CleanEvent, Errors, clean_event
from behavior.models import Event, KindDayCount, ProductDayCount, Shopper
from behavior.selectors import product_ids_for_skus, shopper_ids_for_external_ids

STORED, DUPLICATE, INVALID = "stored", "duplicate", "invalid"


class EventRow(NamedTuple):
    """A validated event with resolved primary keys, ready to insert (fields in COPY order)."""

    event_id: str
    shopper_id: int
    product_id: int | None
    kind: str
    value: float
    query: str
    session_id: str
    order_id: str
    occurred_at: datetime
    # Last and defaulted: bulk loads write only the nine fields above (_BASE_COLUMNS).
    recommendation_id: UUID | None = None
    position: int | None = None


@dataclass
class IngestResult:
    """The outcome of each input event, by position: 'stored', 'duplicate' or 'invalid'."""

    statuses: list[str]
    errors: dict[int, Errors] = field(default_factory=dict)
    shoppers_created: int = 0

    @property
    def stored(self) -> int:
        return self.statuses.count(STORED)

    @property
    def duplicates(self) -> int:
        return self.statuses.count(DUPLICATE)

    @property
    def invalid(self) -> int:
        return self.statuses.count(INVALID)


def ingest_events(
    *, events: Sequence[Mapping[str, Any]], create_unknown_shoppers: bool = True
) -> IngestResult:
    """Store each valid, new event exactly once, all in one transaction; report every event.

    Duplicates (an ``event_id`` already stored, or repeated earlier in this batch among the
    valid events) are not stored again. After commit, the shoppers' real-time caches update.
    """
    now = timezone.now()
    statuses = [INVALID] * len(events)
    errors: dict[int, Errors] = {}
    cleaned: dict[int, CleanEvent] = {}
    for index, raw in enumerate(events):
        clean, event_errors = clean_event(raw, now=now)
        if event_errors:
            errors[index] = event_errors
        else:
            cleaned[index] = clean

    product_ids = product_ids_for_skus(skus={c.sku for c in cleaned.values() if c.sku})
    for index, clean in list(cleaned.items()):
        if clean.sku is not None and clean.sku not in product_ids:
            errors[index] = {"product": [f"Unknown product sku {clean.sku!r}."]}
            del cleaned[index]

    with transaction.atomic():
        shopper_ids, created = _shopper_ids(
            external_ids={c.shopper for c in cleaned.values()}, create=create_unknown_shoppers
        )
        rows: list[EventRow] = []
        first_index: dict[str, int] = {}
        for index, clean in cleaned.items():
            if clean.shopper not in shopper_ids:
                errors[index] = {"shopper": [f"Unknown shopper {clean.shopper!r}."]}
                continue
            if clean.event_id in first_index:
                statuses[index] = DUPLICATE
                continue
            first_index[clean.event_id] = index
            rows.append(_row(clean, shopper_ids, product_ids))
        external_ids = {pk: external_id for external_id, pk in shopper_ids.items()}
        stored_ids = store_events(rows=rows, external_ids=external_ids)
    for event_id, index in first_index.items():
        statuses[index] = STORED if event_id in stored_ids else DUPLICATE
    return IngestResult(statuses=statuses, errors=errors, shoppers_created=created)


def store_events(
    *,
    rows: Sequence[EventRow],
    durable: bool = True,
    external_ids: Mapping[int, str] | None = None,
) -> set[str]:
    """Insert the rows whose ``event_id`` is new; return the event ids actually inserted.

    Rows must have distinct event ids. Runs in the caller's transaction (or its own), and
    schedules the real-time cache update for after the commit. ``durable=False`` (rerunnable
    bulk imports only) lets that transaction commit without waiting for its WAL flush: a
    server crash may then lose the last commits, never corrupt or half-write one.
    ``external_ids`` (shopper id → external id, as ``ingest_events`` knows them) lets the
    shoppers' clicks reset their shown histories (``behavior.shown_history``); bulk imports of
    past events leave it out.
    """
    if not rows:
        return set()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            if not durable:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            stored = _copy_insert(rows)
        else:
            stored = _bulk_create_insert(rows)
        new_rows = [row for row in rows if row.event_id in stored]
        # Last in the transaction: the shopper rows stay locked only until its commit.
        versions = _bump_event_versions(shopper_ids={row.shopper_id for row in new_rows})
        transaction.on_commit(
            lambda: realtime.record_events(
                events=new_rows, versions=versions, shoppers=external_ids
            )
        )
    return stored


def bulk_load_events(
    *, rows: Iterable[Sequence], received_at: datetime | None = None, expected: int = 0
) -> int:
    """Load rows straight into the events table (one COPY on PostgreSQL); return how many.

    For bulk builds whose event ids are new by construction (the synthetic demo shop):
    ``store_events`` pays for a temp table and ``ON CONFLICT`` to report duplicates, which a
    6M-event build does not need. A repeated event id fails the whole load (unique
    constraint), so it is all or nothing. Each row is an ``EventRow`` or a tuple in its field
    order. Every touched shopper's ``events_version`` is bumped, so real-time caches keyed on it
    are rebuilt from the database; Redis is not written (millions of events would flood it).
    ``expected`` (how many rows are coming) lets a load bigger than the table build its
    secondary indexes and check its foreign keys once at the end (``behavior.bulk_indexes``).
    """
    received_at = received_at or timezone.now()
    if connection.vendor != "postgresql":
        return _insert_many(rows=rows, received_at=received_at)
    shoppers: set[int] = set()
    loaded = 0
    copy_sql = (
        f"COPY {Event._meta.db_table} ({_BASE_COLUMNS}, received_at) FROM STDIN (FORMAT BINARY)"
    )
    table = Event._meta.db_table
    with (
        transaction.atomic(),
        indexes_rebuilt_after(table=table, rows=expected),
        connection.cursor() as cursor,
    ):
        # cursor.copy is psycopg's own: wrapped, a duplicate id raises Django's IntegrityError.
        with connection.wrap_database_errors, cursor.copy(copy_sql) as copy:
            copy.set_types([*_COPY_TYPES[:_BASE], "timestamptz"])
            for row in rows:
                copy.write_row((*row[:_BASE], received_at))
                shoppers.add(row[1])
                loaded += 1
        _bump_event_versions(shopper_ids=shoppers)
    return loaded


def _insert_many(*, rows: Iterable[Sequence], received_at: datetime) -> int:
    """The SQLite bulk load: one prepared INSERT per 5,000 rows, in one transaction.

    ``bulk_create`` built 200k model instances and split them into 999-parameter statements:
    about 100 s on a loaded 2-core machine. Field.get_db_prep_value cost ~70 µs per value
    (7 s for 100k events), so datetimes go in as the naive UTC text Django writes with USE_TZ.
    """
    columns = (*EventRow._fields[:_BASE], "received_at")
    sql = (
        f"INSERT INTO {connection.ops.quote_name(Event._meta.db_table)} "
        f"({', '.join(connection.ops.quote_name(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )

    def naive_utc(at: datetime) -> str:
        return str(at.astimezone(UTC).replace(tzinfo=None))

    received, rows = naive_utc(received_at), iter(rows)
    shoppers: set[int] = set()
    loaded = 0
    with transaction.atomic(), connection.cursor() as cursor:
        while batch := [
            (*r[: _BASE - 1], naive_utc(r[_BASE - 1]), received) for r in islice(rows, 5_000)
        ]:
            cursor.executemany(sql, batch)
            shoppers.update(row[1] for row in batch)
            loaded += len(batch)
        ids = sorted(shoppers)
        for start in range(0, len(ids), 500):  # SQLite caps the parameters of one statement
            Shopper.objects.filter(pk__in=ids[start : start + 500]).update(
                events_version=F("events_version") + 1
            )
    return loaded


def _bump_event_versions(*, shopper_ids: set[int]) -> dict[int, int]:
    """Each shopper's new ``events_version``, bumped in the caller's transaction.

    What real-time caches are keyed by (behavior.realtime): bumped with the events, it moves
    even when the after-commit Redis update is lost.
    """
    if not shopper_ids:
        return {}
    if connection.vendor != "postgresql":
        shoppers = Shopper.objects.filter(pk__in=shopper_ids)
        shoppers.update(events_version=F("events_version") + 1)
        return dict(shoppers.values_list("pk", "events_version"))
    table = Shopper._meta.db_table
    with connection.cursor() as cursor:
        # Locked in id order: two batches sharing shoppers wait for each other, never deadlock.
        cursor.execute(
            f"UPDATE {table} s SET events_version = s.events_version + 1"
            f" FROM (SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE)"
            " locked WHERE s.id = locked.id RETURNING s.id, s.events_version",
            [sorted(shopper_ids)],
        )
        return dict(cursor.fetchall())


def refresh_event_statistics() -> None:
    """The planner's statistics on events, shoppers and the daily summaries are current (after
    a bulk import; PostgreSQL only). Without them (autovacuum off, or not yet run) the planner
    misjudges recent time ranges: the overview scanned a month of events by time, 0.75 s."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Event, Shopper, ProductDayCount, KindDayCount):
                cursor.execute(f"ANALYZE {model._meta.db_table}")


def upsert_shoppers(*, countries: Mapping[str, str]) -> tuple[dict[str, int], int]:
    """Every external id's shopper id, creating missing shoppers and setting their country
    (an ISO code, or "" for none).

    Returns the id map and how many shoppers were created. Rows are written in sorted order,
    so concurrent upserts lock shared shoppers in the same order and cannot deadlock.
    """
    existing = shopper_ids_for_external_ids(external_ids=countries)
    Shopper.objects.bulk_create(
        [Shopper(external_id=e, country=c) for e, c in sorted(countries.items())],
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["external_id"],
        update_fields=["country"],
    )
    ids = shopper_ids_for_external_ids(external_ids=countries)
    return ids, len(ids) - len(existing)


def _shopper_ids(*, external_ids: set[str], create: bool) -> tuple[dict[str, int], int]:
    if create and external_ids and connection.vendor == "postgresql":
        return _upsert_shopper_ids(external_ids)
    found = shopper_ids_for_external_ids(external_ids=external_ids)
    missing = external_ids - found.keys()
    if not missing or not create:
        return found, 0
    # ignore_conflicts: a concurrent batch may create the same shopper first; both then read it.
    Shopper.objects.bulk_create(
        [Shopper(external_id=e) for e in missing], batch_size=2000, ignore_conflicts=True
    )
    found.update(shopper_ids_for_external_ids(external_ids=missing))
    return found, len(missing)


def _upsert_shopper_ids(external_ids: set[str]) -> tuple[dict[str, int], int]:
    """Every external id's shopper id, creating the missing ones, in one statement.

    Replaces read, bulk insert and re-read (three statements with 500 bound parameters each,
    ~30 % of a batch's client CPU). The final SELECT sees the snapshot from before the INSERT,
    so new rows come from RETURNING; a shopper another batch created after that snapshot is in
    neither and is read once more.

    Inserts go in sorted order (Python's, as in ``upsert_shoppers``). A batch inserting a shopper
    that another open batch has just inserted waits for that batch to end; in different orders
    two batches can each wait for the other (DISTINCT's hash order made that 2 of 9 benchmark
    runs). One order means the batch that inserts first never waits for the other.
    """
    table = Shopper._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH wanted AS (SELECT external_id, position"
            f" FROM unnest(%s::varchar[]) WITH ORDINALITY AS w (external_id, position)),"
            f" created AS (INSERT INTO {table}"
            f" (external_id, country, segment, points_balance, created_at)"
            f" SELECT external_id, '', '', 0, now() FROM wanted ORDER BY position"
            f" ON CONFLICT (external_id) DO NOTHING RETURNING external_id, id)"
            f" SELECT external_id, id, true FROM created UNION ALL"
            f" SELECT s.external_id, s.id, false FROM {table} s JOIN wanted USING (external_id)",
            [sorted(external_ids)],
        )
        rows = cursor.fetchall()
    found = {external_id: pk for external_id, pk, _new in rows}
    created = sum(1 for _e, _pk, new in rows if new)
    if len(found) < len(external_ids):
        found.update(shopper_ids_for_external_ids(external_ids=external_ids - found.keys()))
    return found, created


def _row(clean: CleanEvent, shopper_ids: dict[str, int], product_ids: dict[str, int]) -> EventRow:
    return EventRow(
        event_id=clean.event_id,
        shopper_id=shopper_ids[clean.shopper],
        product_id=product_ids[clean.sku] if clean.sku is not None else None,
        kind=clean.kind,
        value=clean.value,
        query=clean.query,
        session_id=clean.session_id,
        order_id=clean.order_id,
        occurred_at=clean.occurred_at,
        recommendation_id=clean.recommendation_id,
        position=clean.position,
    )


_COLUMNS = ", ".join(EventRow._fields)  # the COPY column order is the tuple order
_BASE = 9  # what bulk loads write: their rows may be plain 9-tuples (no recommendation)
_BASE_COLUMNS = ", ".join(EventRow._fields[:_BASE])
_COPY_TYPES = [
    "varchar", "int8", "int8", "varchar", "float8", "varchar", "varchar", "varchar", "timestamptz",
    "uuid", "int2",
]  # fmt: skip


def _copy_insert(rows: Sequence[EventRow]) -> set[str]:
    """COPY into a temp table, then one INSERT … ON CONFLICT DO NOTHING RETURNING.

    Inserted in event id order: two batches resending overlapping events (a client's retry
    beside the original) each wait on the other's unique-index entries, and in different
    orders they deadlock; in one order the later batch only waits.

    Measured ~2.6× faster than bulk_create(ignore_conflicts=True) on 20k events, and RETURNING
    says exactly which events were new (ECOSYSTEM.md, "Ingestion").
    """
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.shelfwise_ingest")
        cursor.execute(
            "CREATE TEMP TABLE shelfwise_ingest ("
            " event_id varchar(128), shopper_id bigint, product_id bigint, kind varchar(16),"
            " value double precision, query varchar(255), session_id varchar(128),"
            " order_id varchar(128), occurred_at timestamptz, recommendation_id uuid,"
            " position smallint) ON COMMIT DROP"
        )
        # Binary COPY with declared types: on the 396,337 Online Retail events, 0.7 s client
        # CPU against 2.0 s for text write_row (which picks a dumper per value), and 0.5 s
        # against 0.7 s on the server (bench/import_online_retail.py notes).
        copy_sql = f"COPY shelfwise_ingest ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(copy_sql) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {Event._meta.db_table} ({_COLUMNS}, received_at)"
            f" SELECT {_COLUMNS}, now() FROM shelfwise_ingest ORDER BY event_id"
            " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        stored = {event_id for (event_id,) in cursor.fetchall()}
        cursor.execute("DROP TABLE pg_temp.shelfwise_ingest")
    return stored


def _bulk_create_insert(rows: Sequence[EventRow]) -> set[str]:
    """The embedded (SQLite) path: one writer at a time, so "existed before" is exact."""
    ids = [r.event_id for r in rows]
    existing: set[str] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        existing.update(Event.objects.filter(event_id__in=chunk).values_list("event_id", flat=True))
    Event.objects.bulk_create(
        [
            Event(
                event_id=r.event_id,
                shopper_id=r.shopper_id,
                product_id=r.product_id,
                kind=r.kind,
                value=r.value,
                query=r.query,
                session_id=r.session_id,
                order_id=r.order_id,
                occurred_at=r.occurred_at,
                recommendation_id=r.recommendation_id,
                position=r.position,
            )
            for r in rows
            if r.event_id not in existing
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return set(ids) - existing
