"""Plumbing shared by the file importers (products, events, Online Retail).

Files are streamed, never read whole: plain or gzip (detected by its magic bytes, not the
name), UTF-8 (a leading byte order mark is dropped), with a progress bar that advances by bytes
of the file on disk, so it is right for compressed files too. Problems with the file as a whole
raise ``ImportFileError`` (the commands turn it into a non-zero exit); problems with one line
are collected as ``BadLines``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from tqdm import tqdm

from catalog.services import PRODUCT_FIELDS, upsert_products
from config.csv_safety import unescape_formula

GZIP_MAGIC = b"\x1f\x8b"
SHOWN_BAD_LINES = 20
PRODUCT_COLUMNS = ("sku", *PRODUCT_FIELDS)
REQUIRED_PRODUCT_COLUMNS = ("sku", "title", "price")


class ImportFileError(Exception):
    """The file cannot be imported at all (missing, unreadable, truncated, wrong columns)."""


@dataclass
class BadLines:
    """Lines that could not be used: the first few with reasons, and how many in all."""

    shown: list[tuple[int, str]] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.shown) < SHOWN_BAD_LINES:
            self.shown.append((line, message))

    def add_errors(self, line: int, errors: dict[str, list[str]]) -> None:
        self.add(line, "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))


class ByteProgress:
    """A tqdm bar over the bytes of the file on disk (compressed bytes for a .gz)."""

    def __init__(self, raw: IO[bytes], *, total: int, desc: str, enabled: bool) -> None:
        self._raw = raw
        self._bar = tqdm(
            total=total, desc=desc, unit="B", unit_scale=True, disable=not enabled, leave=True
        )

    def update(self) -> None:
        self._bar.update(self._raw.tell() - self._bar.n)

    def close(self) -> None:
        self.update()
        self._bar.close()


@contextmanager
def open_text(path: Path | str) -> Iterator[tuple[IO[str], IO[bytes], int]]:
    """(text stream, raw byte stream, size on disk); gzip is detected from the content."""
    path = Path(path)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"Cannot open {path}: {exc.strerror or exc}.") from exc
    with raw:
        size = path.stat().st_size
        binary: IO[bytes] = gzip.GzipFile(fileobj=raw) if raw.read(2) == GZIP_MAGIC else raw
        raw.seek(0)
        # utf-8-sig drops the byte order mark Excel's "CSV UTF-8" writes, which would otherwise
        # stick to the first column name; a file without one reads exactly as with utf-8.
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            yield text, raw, size
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ImportFileError(f"{path} is damaged or truncated ({exc}).") from exc
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{path} is not UTF-8 text ({exc.reason}).") from exc
        except csv.Error as exc:
            raise ImportFileError(f"{path} is not readable CSV ({exc}).") from exc


def csv_header(reader: Any, *, path: Path | str, allowed: Sequence[str], required: Sequence[str]):
    """The header row, checked: every required column present, no unknown ones."""
    header = next(reader, None)
    if not header:
        raise ImportFileError(f"{path} is empty: expected a header row.")
    header = [name.strip() for name in header]
    missing = [name for name in required if name not in header]
    unknown = [name for name in header if name not in allowed]
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise ImportFileError(
            f"{path} does not have the expected columns ({'; '.join(problems)}). "
            f"Expected: {','.join(allowed)}."
        )
    return header


@dataclass
class ProductsImportReport:
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: BadLines = field(default_factory=BadLines)


def import_products_file(
    *, path: Path | str, dry_run: bool = False, batch_size: int = 2000, progress: bool = True
) -> ProductsImportReport:
    """Upsert every valid product line by sku, one transaction per batch.

    A dry run does the same work in one transaction and rolls it back, so its counts are exact.
    """
    report = ProductsImportReport()
    whole = transaction.atomic() if dry_run else nullcontext()
    with open_text(path) as (text, raw, size), whole:
        reader = csv.reader(text)
        header = csv_header(
            reader, path=path, allowed=PRODUCT_COLUMNS, required=REQUIRED_PRODUCT_COLUMNS
        )
        bar = ByteProgress(raw, total=size, desc="products", enabled=progress)
        batch: list[tuple[int, dict[str, str]]] = []
        for cells in reader:
            if not cells:  # a blank line (often the last) carries nothing, as in import_events
                continue
            report.lines += 1
            if len(cells) != len(header):
                report.bad.add(
                    reader.line_num, f"expected {len(header)} fields, found {len(cells)}"
                )
                continue
            # An admin export escaped formula-like cells; load their values, not the escape.
            values = (unescape_formula(cell) for cell in cells)
            batch.append((reader.line_num, dict(zip(header, values, strict=True))))
            if len(batch) >= batch_size:
                _upsert_batch(batch, report, dry_run)
                batch = []
                bar.update()
        _upsert_batch(batch, report, dry_run)
        bar.close()
        if dry_run:
            transaction.set_rollback(True)
    return report


def _upsert_batch(batch, report: ProductsImportReport, dry_run: bool) -> None:
    if not batch:
        return
    result = upsert_products(rows=[row for _, row in batch])
    report.created += result.created
    report.updated += result.updated
    report.unchanged += result.unchanged
    for index, errors in sorted(result.errors.items()):
        report.bad.add_errors(batch[index][0], errors)


def bad_lines_summary(bad: BadLines) -> list[str]:
    """Lines for a command's summary: the count, then the first few bad lines with reasons."""
    if not bad.count:
        return []
    lines = [f"{bad.count:,} bad lines (not imported); the first {len(bad.shown)}:"]
    lines += [f"  line {line}: {message}" for line, message in bad.shown]
    return lines
