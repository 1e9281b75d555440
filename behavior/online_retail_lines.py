"""Read the UCI Online Retail file (../shared/datasets/online_retail): every line checked and
classified, purchases kept as small tuples for ``online_retail`` to store.

Rules (documented for merchandisers in behavior/ingest_formats.md):

Rules (documented for merchandisers in behavior/ingest_formats.md):

- A line is classified in this order; the first matching reason skips it:
  unreadable (bad line: field count, a NUL character, a number or date that does not parse,
  a date before 1970 or more than a day after the import's clock (the bounds of every event
  path), a quantity too large for a float, a unit price that is NaN, infinite or above the
  catalog's price ceiling) → non-product stock code → cancellation (invoice ``C…``) →
  quantity ≤ 0 → unit price ≤ 0 → no CustomerID. Everything left is a purchase event, unless
  its CustomerID is longer than a shopper id can be or is nothing but ``.0``, or its InvoiceNo
  makes the event id longer than an event id can be: then it is a bad line too.
- Product codes are five digits plus up to two letters (``85123A``); codes are upper-cased,
  because the file spells some of them both ways (``84968f``/``84968F``, 112 such pairs)
  for one product. Anything else is a service, fee or adjustment (``POST``, ``DOT``, ``M``,
  ``BANK CHARGES``, ``gift_0001_20``, eBay lots ``DCGS…``), never a product.
- A product comes from every sale line (not cancelled, quantity and price above zero), with or
  without a customer: title = its most common description, title-cased; price = its most
  common unit price (ties → the latest), which ignores one-off discounts and bulk tiers;
  category from ``catalog.categorize``; stock unknown (null, counts as available).
- A shopper comes from every customer with at least one purchase; country = the latest seen,
  stored as its ISO code ("EIRE" is IE; a name with no code leaves it empty and is reported).
- One purchase per line: value = Quantity, order_id = InvoiceNo, occurred_at = InvoiceDate read
  as Europe/London local time (the README: "UK local time"), and a deterministic event id
  ``oretail:<invoice>:<sku>:<n>`` (n-th such line of the invoice), so re-importing adds nothing.

The file is streamed once and every line checked before anything is written (a damaged file
stores nothing); the purchases are kept as small tuples (~70 MB for this file).
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from behavior.event_checks import TEXT_LIMITS
from behavior.models import EARLIEST_EVENT_TIME
from catalog.importing import BadLines, ByteProgress, ImportFileError, csv_header, open_text
from catalog.services import MAX_PRICE

COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
PRODUCT_CODE = re.compile(r"\d{5}[A-Z]{0,2}")
LONDON = ZoneInfo("Europe/London")
CENT = Decimal("0.01")
# A unit price rounds to a cent above MAX_PRICE from here on (ROUND_HALF_UP, as the catalog
# write rounds it).
PRICE_CEILING = MAX_PRICE + CENT / 2
# Below this a float price is certainly storable; at or above it the exact Decimal check runs.
_SAFE_PRICE = float(MAX_PRICE) - 1.0
# An event's value is a float: a larger quantity (int() reads any length) cannot become one.
MAX_QUANTITY = sys.float_info.max
SHOPPER_LENGTH = TEXT_LIMITS["shopper"]  # the limits ingest_events applies to a shopper id
EVENT_ID_LENGTH = TEXT_LIMITS["event_id"]  # and an event id (order_id = InvoiceNo is shorter)

NON_PRODUCT = "non-product code (postage, fees, adjustments, vouchers)"
CANCELLATION = "cancellation invoice (C…)"
NO_QUANTITY = "quantity 0 or below"
NO_PRICE = "unit price 0 or below"
NO_CUSTOMER = "no CustomerID (cannot be attributed to a shopper)"
NUL_CELL = "contains a NUL character, which the database cannot store"

# One purchase line: (event id, customer, sku, quantity, invoice, occurred_at). A plain tuple,
# with the repeated strings and datetimes shared between lines, keeps 396k of them near 70 MB.
Purchase = tuple[str, str, str, float, str, datetime]


class _BadCell(ValueError):
    """One cell makes its line unusable: reported as a bad line naming the column."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


@dataclass
class OnlineRetailReport:
    lines: int = 0
    events_stored: int = 0
    duplicates: int = 0
    products_created: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    shoppers: int = 0
    shoppers_created: int = 0
    batches: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for benches
    skipped: Counter = field(default_factory=Counter)
    bad: BadLines = field(default_factory=BadLines)
    # Country names with no ISO code → shoppers stored without a country because of them.
    unknown_countries: Counter = field(default_factory=Counter)


@dataclass
class Scan:
    # (sku, description, unit price) → [lines, last line]: one dict update per sale line;
    # titles and prices are tallied from it afterwards (~30k keys against 400k lines).
    sales: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)
    purchases: list[Purchase] = field(default_factory=list)


def read_lines(
    path: Path | str, report: OnlineRetailReport, progress: bool, latest: datetime
) -> Scan:
    """Stream and classify every line (see the module docstring); keep only purchases."""
    scan = Scan()
    sales, countries, purchases, skipped = scan.sales, scan.countries, scan.purchases, Counter()
    # Caches: 4k codes, 23k timestamps, 26k invoices, 4k customers across 541k lines. Parsing
    # each once and sharing the objects makes the read ~2× faster and the purchases list small.
    skus: dict[str, str | None] = {}
    dates: dict[str, datetime] = {}
    invoices: dict[str, str] = {}
    customers: dict[str, str] = {}
    occurrences: dict[tuple[str, str], int] = {}
    lines = 0
    with open_text(path) as (text, raw, size):
        reader = csv.reader(text)
        if tuple(csv_header(reader, path=path, allowed=COLUMNS, required=COLUMNS)) != COLUMNS:
            raise ImportFileError(f"{path}: expected the columns in order {','.join(COLUMNS)}.")
        bar = ByteProgress(raw, total=size, desc="read", enabled=progress)
        # One flat loop, no helper calls per line: this loop is most of the import's client
        # CPU (5.9 s → 4.0 s CPU when the per-line helpers and NamedTuples went).
        for cells in reader:
            lines += 1
            if not lines % 10_000:
                bar.update()
            if not cells:  # a blank line, skipped as every import skips them
                continue
            try:
                invoice, code, description, quantity, date, price, customer, country = cells
            except ValueError:
                report.bad.add(reader.line_num, f"expected 8 fields, found {len(cells)}")
                _hold_place(occurrences, cells)
                continue
            # PostgreSQL text cannot hold NUL, and Python's csv reads it since 3.11: one such
            # cell used to fail the whole catalog transaction. One join covers all cells
            # (measured: ~0.1 s more CPU on the full file's 1.9 s read).
            if "\x00" in "".join(cells):
                column = COLUMNS[next(i for i, cell in enumerate(cells) if "\x00" in cell)]
                report.bad.add_errors(reader.line_num, {column: [NUL_CELL]})
                _hold_place(occurrences, cells)
                continue
            sku = skus.get(code, "")
            if sku == "":
                sku = skus[code] = _sku(code)
            try:
                if sku is None:
                    reason = NON_PRODUCT
                elif invoice.startswith("C"):
                    reason = CANCELLATION
                elif (count := int(quantity)) <= 0:
                    reason = NO_QUANTITY
                elif count > MAX_QUANTITY:  # exact: Python compares int and float losslessly
                    raise _BadCell(
                        "Quantity",
                        f"above the largest quantity an event can hold, {MAX_QUANTITY:.3g}",
                    )
                # NaN fails both comparisons (``nan <= 0`` is False, so it used to pass).
                elif not 0 < float(price) < _SAFE_PRICE:
                    reason = _price_reason(price)
                else:
                    reason = ""
                at = dates.get(date)
                if at is None:
                    at = dates[date] = _local_time(date, latest)
            except _BadCell as exc:
                report.bad.add_errors(reader.line_num, {exc.column: [str(exc)]})
                _hold_place(occurrences, cells)
                continue
            except ValueError as exc:
                column = _unreadable_column(sku, invoice, quantity, price)
                report.bad.add_errors(reader.line_num, {column: [f"unreadable value ({exc})"]})
                _hold_place(occurrences, cells)
                continue
            if reason:
                skipped[reason] += 1
                continue
            assert sku is not None
            # Spaces around a key would make another shopper or invoice (" 17850.0" is 17850);
            # a blank CustomerID is a missing one. Stripped here, on sale lines only.
            invoice, customer = invoice.strip(), customer.strip()
            if customer:
                shopper = customers.get(customer)
                if shopper is None:
                    shopper = customers[customer] = customer.removesuffix(".0")
                invoice = invoices.setdefault(invoice, invoice)
                line_key = (invoice, sku)
                # Counted before the checks below: a bad line keeps its n, so once it is fixed
                # a rerun stores it as n instead of the next good line's copy under a new id
                # (bad lines found earlier keep theirs through _hold_place).
                nth = occurrences[line_key] = occurrences.get(line_key, 0) + 1
                event_id = f"oretail:{invoice}:{sku}:{nth}"
                # Checked before the product tally, so a bad line adds nothing to its product;
                # written, a long CustomerID failed the shoppers' upsert and with it the whole
                # import, a long event id its whole batch, naming no line, and a CustomerID of
                # ".0" made a shopper with an empty id.
                if not shopper or len(shopper) > SHOPPER_LENGTH or len(event_id) > EVENT_ID_LENGTH:
                    report.bad.add_errors(reader.line_num, _id_errors(shopper, event_id))
                    continue
                countries[shopper] = country.strip()
                purchases.append((event_id, shopper, sku, count, invoice, at))
            else:
                skipped[NO_CUSTOMER] += 1
            sale = (sku, description, price)
            if tally := sales.get(sale):
                tally[0] += 1
                tally[1] = lines
            else:
                sales[sale] = [1, lines]
        bar.close()
    report.lines = lines
    report.skipped.update(skipped)
    return scan


def _hold_place(occurrences: dict[tuple[str, str], int], cells: list[str]) -> None:
    """Count a bad line found before its customer is read in its invoice's numbering, as the
    CustomerID and InvoiceNo checks do, when its readable cells say it would be a purchase.

    Skipped, the next line of that invoice and product took its n, and once the line was fixed
    a re-import gave it that n and the next line n + 1: one purchase stored twice. A guess is
    needed, since the fixed line is not known; a wrong one costs that same duplicate.
    """
    # A NUL is a stray byte: the fix most likely deletes it, so the key is read without it.
    cells = [cell.replace("\x00", "") for cell in cells]
    if len(cells) < 2:
        return
    # With the wrong field count only the first two cells are trusted: a stray comma or a cut
    # is far likelier in the free-text description, or after it, than before it.
    invoice, sku = cells[0].strip(), _sku(cells[1])
    if sku is None or invoice.startswith("C"):
        return
    if len(cells) == len(COLUMNS):
        quantity, price, customer = cells[3], cells[5], cells[6].strip()
        if not customer or _not_positive(quantity) or _not_positive(price):
            return  # fixed as it reads, rules 4-6 skip it: no event, no place
    occurrences[invoice, sku] = occurrences.get((invoice, sku), 0) + 1


def _not_positive(text: str) -> bool:
    """A number that reads as 0 or below; an unreadable one may be fixed to anything."""
    try:
        return float(text) <= 0
    except ValueError:
        return False


def _price_reason(text: str) -> str:
    """The rare path of the price check: NO_PRICE for 0 or below, "" for a storable price;
    raises ``_BadCell`` for NaN, an infinity or a price the catalog cannot hold."""
    try:
        price = Decimal(text)  # exact, where the float compared above may have rounded
    except InvalidOperation as exc:
        raise _BadCell("UnitPrice", f"unreadable value ({text!r})") from exc
    if not price.is_finite():
        raise _BadCell("UnitPrice", f"not a finite number ({text.strip()!r})")
    if price <= 0:
        return NO_PRICE
    if price >= PRICE_CEILING:
        raise _BadCell("UnitPrice", f"above the highest price a product can have, {MAX_PRICE}")
    return ""


def _id_errors(shopper: str, event_id: str) -> dict[str, list[str]]:
    """The errors of a purchase line whose shopper id or event id cannot be stored."""
    errors = {}
    # A present CustomerID that normalises to nothing is damaged, not rule 6's missing one:
    # reported, so it is fixed rather than counted as an anonymous sale.
    if not shopper:
        errors["CustomerID"] = ["no shopper id left once its '.0' is removed"]
    elif len(shopper) > SHOPPER_LENGTH:
        errors["CustomerID"] = [
            f"longer than a shopper id can be ({len(shopper)} characters; at most {SHOPPER_LENGTH})"
        ]
    if len(event_id) > EVENT_ID_LENGTH:
        errors["InvoiceNo"] = [
            f"too long for its event id ({event_id[:24]}… would be {len(event_id)} characters;"
            f" at most {EVENT_ID_LENGTH})"
        ]
    return errors


def _unreadable_column(sku: str | None, invoice: str, quantity: str, price: str) -> str:
    """Which column the classification failed to parse, by parsing again in the same order
    (only for bad lines, so the hot loop carries no bookkeeping)."""
    if sku is not None and not invoice.startswith("C"):
        try:
            if int(quantity) > 0:
                float(price)
        except ValueError:
            try:
                int(quantity)
            except ValueError:
                return "Quantity"
            return "UnitPrice"
    return "InvoiceDate"


def _sku(code: str) -> str | None:
    sku = code.strip().upper()
    return sku if PRODUCT_CODE.fullmatch(sku) else None


def _local_time(text: str, latest: datetime) -> datetime:
    """An InvoiceDate as London time, within the bounds every other event path applies:
    raises ``_BadCell`` for one training would skip (before 1970) or the API would refuse."""
    at = datetime.fromisoformat(text).replace(tzinfo=LONDON)
    # Compared as instants: London kept UTC+1 through 1968-71, so 1970-01-01 00:30 is too early.
    if at < EARLIEST_EVENT_TIME:
        raise _BadCell(
            "InvoiceDate",
            f"before {EARLIEST_EVENT_TIME.isoformat()}, the earliest an event can be"
            f" ({text.strip()} London time)",
        )
    if at > latest:
        raise _BadCell(
            "InvoiceDate",
            f"more than a day in the future (after {latest.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
            " UTC by the import's clock), which the events API refuses too",
        )
    return at
