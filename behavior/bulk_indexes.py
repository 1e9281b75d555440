"""Load a large batch into a PostgreSQL table with its secondary indexes and foreign keys built
once afterwards instead of maintained row by row (PostgreSQL's "Populating a Database").

For the demo's 6M events, keeping six secondary indexes up to date during the COPY cost ~60 s of
the server's CPU and the deferred foreign-key checks another ~50 s at commit (one lookup per row
and key); building each index by sorting and validating each key with one join is a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def indexes_rebuilt_after(*, table: str, rows: int) -> Iterator[bool]:
    """Within the caller's transaction, drop ``table``'s non-unique indexes and foreign keys for
    the block, then create them again from their own definitions; yields whether it did.

    Only on PostgreSQL, and only when ``rows`` (about to be loaded) outnumber the rows already
    there: rebuilding over a big table to add a few rows would cost more than it saves. Unique
    and primary-key indexes stay, so duplicates still fail the load. Everything happens in the
    caller's transaction: if the block fails, the transaction is marked for rollback, which
    restores the dropped definitions; nothing can commit without them. Until that transaction
    ends, other sessions wait to read or write ``table`` (ACCESS EXCLUSIVE) and to write the
    tables its foreign keys reference (SHARE ROW EXCLUSIVE): for bulk builds, not live traffic.
    The transaction's pending deferred constraint checks run on entry (PostgreSQL cannot drop a
    foreign key otherwise); afterwards constraints declared INITIALLY DEFERRED are deferred again.
    """
    if connection.vendor != "postgresql" or rows <= _estimated_rows(table):
        yield False
        return
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_rebuilt_after must run inside a transaction")
    indexes, foreign_keys = _definitions(table)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Dropping a foreign key alters the table it references, which PostgreSQL refuses while
        # that table has deferred checks pending (rows inserted earlier in this transaction):
        # run those checks now, as the commit would have.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name, _ in foreign_keys:
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
    try:
        yield True
    except BaseException:
        transaction.set_rollback(True)
        raise
    with connection.cursor() as cursor:
        # Sorting in memory instead of in temporary files (a 6M-row index sorts a few hundred
        # MB); LOCAL: back to the server's setting when the transaction ends.
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
        _defer_initially_deferred(cursor)


def _estimated_rows(table: str) -> float:
    """About how many live rows ``table`` has: the statistics' count of inserted minus deleted
    rows (current after a delete, unlike the planner's estimate, which waits for an ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.n_live_tup, c.reltuples FROM pg_class c"
            " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = %s::regclass",
            [table],
        )
        live, planned = cursor.fetchone()
    return max(0.0, float(planned if live is None else live))


def _definitions(table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``table``'s non-unique indexes (name, CREATE INDEX statement) that back no constraint,
    and its foreign keys (name, constraint definition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            " ORDER BY c.relname",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [table],
        )
        return indexes, cursor.fetchall()


def _defer_initially_deferred(cursor) -> None:
    """Give the rest of the transaction back its checking mode: the constraints declared
    INITIALLY DEFERRED (Django's foreign keys) are checked at commit again."""
    cursor.execute(
        "SELECT DISTINCT quote_ident(n.nspname) || '.' || quote_ident(c.conname)"
        " FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
        " WHERE c.condeferred AND n.nspname = current_schema()"
    )
    names = [name for (name,) in cursor.fetchall()]
    if names:
        cursor.execute(f"SET CONSTRAINTS {', '.join(names)} DEFERRED")
