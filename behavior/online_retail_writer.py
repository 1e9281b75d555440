"""Store the purchases of an Online Retail import in batches, one transaction each.

On PostgreSQL the batches are written by ``writers`` threads, each on its own connection, fed
through a bounded queue while the calling thread builds the next batches: the server's work
(indexes, constraints) then runs on both cores. A failed batch stops the import with
``EventBatchError``; it leaves nothing of itself, and the batches committed before it stay
(the next run skips them). Inside a caller's transaction the batches are written in-line,
because another connection could not see that transaction's products and shoppers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import psycopg
from django.db import DatabaseError, connection, connections
from django.utils import timezone
from tqdm import tqdm

from behavior.models import EventKind
from behavior.online_retail_lines import OnlineRetailReport, Purchase
from behavior.services import EventRow, refresh_event_statistics, store_events
from behavior.summaries import refresh_event_summaries

BATCH_SIZE = 20_000
WRITERS = 2
PURCHASE = str(EventKind.PURCHASE)


class EventBatchError(Exception):
    """A batch of events could not be stored: nothing of it is, the batches committed before
    it stay, and running the import again skips what is stored."""


_Batch = tuple[int, list[EventRow]]


def store_purchases(
    purchases: list[Purchase],
    sku_ids: dict[str, int],
    shopper_ids: dict[str, int],
    *,
    batch_size: int,
    writers: int,
    report: OnlineRetailReport,
    progress: bool,
) -> None:
    started = time.perf_counter()
    bar = tqdm(total=len(purchases), desc="store", unit=" events", disable=not progress)
    batches = _batches(purchases, sku_ids, shopper_ids, batch_size)
    tally = _Tally(report, bar)
    try:
        if writers < 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
            for batch in batches:
                tally.add(*batch, store_batch(batch, report))
        else:
            _store_on_threads(batches, writers, report, tally)
    finally:
        bar.close()
        report.phases["events"] = time.perf_counter() - started
    if report.events_stored:
        started = time.perf_counter()
        # ANALYZE (~30k sampled rows): the first queries after an import (training reads all
        # events) get plans for the new row counts instead of waiting for autovacuum.
        refresh_event_statistics()
        report.phases["statistics"] = time.perf_counter() - started
        started = time.perf_counter()
        # The imported days at once, rather than counted from the events until beat's refresh.
        refresh_event_summaries(now=timezone.now())
        report.phases["summaries"] = time.perf_counter() - started


def _batches(
    purchases: list[Purchase], sku_ids: dict[str, int], shopper_ids: dict[str, int], size: int
) -> Iterator[_Batch]:
    row = EventRow._make  # tuple.__new__: 0.9 s against 1.2 s CPU for EventRow(...) here
    for number, start in enumerate(range(0, len(purchases), size), start=1):
        yield (
            number,
            [
                row(
                    (
                        event_id,
                        shopper_ids[who],
                        sku_ids[sku],
                        PURCHASE,
                        float(n),
                        "",
                        "",
                        invoice,
                        at,
                        None,  # no recommendation followed: history, not a live session
                        None,
                    )
                )
                for event_id, who, sku, n, invoice, at in purchases[start : start + size]
            ],
        )


class _Tally:
    """Adds each stored batch to the report and the progress bar (from any writer thread)."""

    def __init__(self, report: OnlineRetailReport, bar: tqdm) -> None:
        self._report, self._bar, self._lock = report, bar, threading.Lock()

    def add(self, number: int, rows: list[EventRow], stored: int) -> None:
        with self._lock:
            self._report.events_stored += stored
            self._report.duplicates += len(rows) - stored
            self._report.batches += 1
            self._bar.update(len(rows))


def store_batch(batch: _Batch, report: OnlineRetailReport) -> int:
    """Store one batch in one transaction; a database error names the batch and what to do."""
    number, rows = batch
    try:
        # Not durable: the import is idempotent, so a crash losing the last commits costs a
        # rerun, never a wrong row.
        return len(store_events(rows=rows, durable=False))
    # psycopg's own errors too: Django wraps execute(), not the COPY that store_events streams
    # through the driver's cursor, so a value the COPY table refuses arrives unwrapped.
    except (DatabaseError, psycopg.Error) as exc:
        raise EventBatchError(
            f"Storing event batch {number} ({rows[0].event_id} … {rows[-1].event_id}) failed,"
            f" so none of its {len(rows):,} events were stored; {report.events_stored:,} events"
            f" from other batches are. Fix the cause and run the import again (stored events"
            f" are skipped). The database said: {str(exc).strip()}"
        ) from exc


def _store_on_threads(
    batches: Iterator[_Batch], writers: int, report: OnlineRetailReport, tally: _Tally
) -> None:
    """Build batches here while ``writers`` threads store them, each on its own connection."""
    # Bounded: at most one built batch waits per writer, so memory stays flat.
    work: queue.Queue[_Batch | None] = queue.Queue(maxsize=writers)
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while (batch := work.get()) is not None:
                if stop.is_set():
                    continue  # drain without writing once a batch failed
                try:
                    tally.add(*batch, store_batch(batch, report))
                except BaseException as exc:
                    failures.append(exc)
                    stop.set()
        finally:
            connections.close_all()  # this thread's connections only

    threads = [
        threading.Thread(target=write, name=f"event-writer-{n}", daemon=True)
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    try:
        for batch in batches:
            while not stop.is_set():
                try:
                    work.put(batch, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                break
    except BaseException:
        stop.set()  # interrupted here (Ctrl-C): writers finish their batch, store no more
        raise
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
