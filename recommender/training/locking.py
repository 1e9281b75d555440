""" "One training run at a time per algorithm", guarded by PostgreSQL advisory locks.

A session-level ``pg_try_advisory_lock`` is held on the training connection for the whole run;
PostgreSQL drops it as soon as the holder's connection dies (a SIGKILLed worker), so a crashed
run never blocks the next one. The partial unique constraint on running runs is the second,
database-enforced half; on SQLite (the embedded demo, one process) it is the only guard.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection

# First key of the two-int advisory lock form: keeps our locks apart from any other user's.
TRAINING_NAMESPACE = 0x5357  # "SW"
# Serialises the trigger check ("is one already running?") with the insert of a new run.
TRIGGER_KEY = 0


def _key(algorithm: str) -> int:
    # crc32 is stable across processes (unlike hash()); shifted into PostgreSQL's signed int4.
    return zlib.crc32(algorithm.encode()) - 2**31


def uses_advisory_locks() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def algorithm_locks(algorithms: Iterable[str]) -> Iterator[bool]:
    """Hold an advisory lock per algorithm for the block; yields False (holding none) when any
    of them is held by another session, True otherwise (always True without PostgreSQL)."""
    with session_locks(algorithms, namespace=TRAINING_NAMESPACE) as acquired:
        yield acquired


def algorithms_locked_elsewhere(algorithms: Iterable[str]) -> bool:
    """True when another live session holds the lock of any of ``algorithms``.

    The reconciler asks this before failing a silent run: a held lock means its worker is alive.
    """
    return locked_elsewhere(algorithms, namespace=TRAINING_NAMESPACE)


@contextmanager
def session_locks(names: Iterable[str], *, namespace: int) -> Iterator[bool]:
    """Hold a session-level advisory lock per name in ``namespace`` (the first int of the
    two-int form: each kind of run keeps its own) for the block; yields False (holding none)
    when another session holds any of them, True otherwise (always True without PostgreSQL)."""
    if not uses_advisory_locks():
        yield True
        return
    held: list[int] = []
    try:
        with connection.cursor() as cursor:
            for name in sorted(set(names)):
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, _key(name)])
                if not cursor.fetchone()[0]:
                    break
                held.append(_key(name))
        yield len(held) == len(set(names))
    finally:
        _release(held, namespace=namespace)


def _release(keys: list[int], *, namespace: int) -> None:
    if not keys or connection.connection is None:
        return  # the connection is gone, and PostgreSQL released its locks with it
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def locked_elsewhere(names: Iterable[str], *, namespace: int) -> bool:
    """True when another live session holds the lock of any of ``names`` in ``namespace``:
    the process that took it is alive (PostgreSQL drops a dead one's locks with its session)."""
    with session_locks(names, namespace=namespace) as acquired:
        return not acquired


def serialize_triggers() -> None:
    """Inside a transaction: wait for concurrent triggers, so "already running?" and the insert
    of the new run happen as one step (released at commit)."""
    if uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [TRAINING_NAMESPACE, TRIGGER_KEY]
            )
