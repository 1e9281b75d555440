"""Import an events file (JSON lines or CSV, the API event schema) through ``ingest_events``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.db import transaction

from behavior.services import ingest_events
from catalog.importing import BadLines, ByteProgress, ImportFileError, csv_header, open_text

EVENT_COLUMNS = (
    "event_id",
    "shopper",
    "product",
    "kind",
    "value",
    "query",
    "session_id",
    "order_id",
    "occurred_at",
)
REQUIRED_EVENT_COLUMNS = ("event_id", "shopper", "kind")


@dataclass
class EventsImportReport:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    shoppers_created: int = 0
    format: str = ""
    bad: BadLines = field(default_factory=BadLines)


def import_events_file(
    *, path: Path | str, dry_run: bool = False, batch_size: int = 5000, progress: bool = True
) -> EventsImportReport:
    """Ingest every valid event of the file, one transaction per batch; report the bad lines.

    Re-running stores nothing new (events dedupe by ``event_id``). A dry run does the same
    work in one transaction and rolls it back, so its counts are exact.
    """
    report = EventsImportReport()
    whole = transaction.atomic() if dry_run else nullcontext()
    with open_text(path) as (text, raw, size), whole:
        bar = ByteProgress(raw, total=size, desc="events", enabled=progress)
        batch: list[tuple[int, Any]] = []
        for line, event in _events(text, path=path, report=report):
            batch.append((line, event))
            if len(batch) >= batch_size:
                _ingest_batch(batch, report)
                batch = []
                bar.update()
        _ingest_batch(batch, report)
        bar.close()
        if dry_run:
            transaction.set_rollback(True)
    return report


def _events(text: IO[str], *, path: Path | str, report: EventsImportReport) -> Iterator:
    """(line number, event mapping) for each usable line; unusable ones go to ``report.bad``."""
    # The format is told by the first character that is not blank; the blank lines read on the
    # way are counted so the numbers reported stay those of the file.
    offset = 0
    first = text.read(1)
    while first and first.isspace():
        if first == "\n":
            offset += 1
        first = text.read(1)
    if not first:
        raise ImportFileError(f"{path} is empty.")
    lines = _prepend(first, text)
    if first == "{":
        report.format = "jsonl"
        yield from _json_lines(lines, offset, report)
    else:
        report.format = "csv"
        yield from _csv_lines(lines, offset, path, report)


def _json_lines(lines: Iterator[str], offset: int, report: EventsImportReport) -> Iterator:
    for line_no, line in enumerate(lines, start=offset + 1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            report.bad.add(line_no, f"not valid JSON: {exc.msg} at character {exc.pos}")
            continue
        if not isinstance(event, dict):
            report.bad.add(line_no, "each line must be one JSON object")
            continue
        yield line_no, event


def _csv_lines(lines: Iterator[str], offset: int, path, report: EventsImportReport) -> Iterator:
    reader = csv.reader(lines)
    header = csv_header(reader, path=path, allowed=EVENT_COLUMNS, required=REQUIRED_EVENT_COLUMNS)
    for cells in reader:
        if not cells:
            continue
        report.lines += 1
        line_no = offset + reader.line_num
        if len(cells) != len(header):
            report.bad.add(line_no, f"expected {len(header)} fields, found {len(cells)}")
            continue
        # An empty CSV cell means "not given", like a missing key in JSON.
        yield line_no, {k: v for k, v in zip(header, cells, strict=True) if v != ""}


def _prepend(first: str, text: IO[str]) -> Iterator[str]:
    """The file's lines again, with the character already read put back on the first one."""
    lines = iter(text)
    yield first + next(lines, "")
    yield from lines


def _ingest_batch(batch: list[tuple[int, Any]], report: EventsImportReport) -> None:
    if not batch:
        return
    result = ingest_events(events=[event for _, event in batch])
    report.stored += result.stored
    report.duplicates += result.duplicates
    report.shoppers_created += result.shoppers_created
    for index, errors in sorted(result.errors.items()):
        report.bad.add_errors(batch[index][0], errors)
