"""Import the UCI Online Retail file (../shared/datasets/online_retail) as catalog + purchases.

Rules (documented for merchandisers in behavior/ingest_formats.md):

- A line is classified in this order; the first matching reason skips it:
  unreadable (bad line) → non-product stock code → cancellation (invoice ``C…``) →
  quantity ≤ 0 → unit price ≤ 0 → no CustomerID. Everything left is a purchase event.
- Product codes are five digits plus up to two letters (``85123A``); codes are upper-cased,
  because the file spells some of them both ways (``84968f``/``84968F``, 112 such pairs)
  for one product. Anything else is a service, fee or adjustment (``POST``, ``DOT``, ``M``,
  ``BANK CHARGES``, ``gift_0001_20``, eBay lots ``DCGS…``), never a product.
- A product comes from every sale line (not cancelled, quantity and price above zero), with or
  without a customer: title = its most common description, title-cased; price = its most
  common unit price (ties → the latest), which ignores one-off discounts and bulk tiers;
  category from ``catalog.categorize``; stock unknown (null, counts as available).
- A shopper comes from every customer with at least one purchase; country = the latest seen.
- One purchase per line: value = Quantity, order_id = InvoiceNo, occurred_at = InvoiceDate read
  as Europe/London local time (the README: "UK local time"), and a deterministic event id
  ``oretail:<invoice>:<sku>:<n>`` (n-th such line of the invoice), so re-importing adds nothing.

The file is streamed once and every line checked before anything is written (a damaged file
stores nothing); the purchases are kept as small tuples (~60 MB for this file), products and
shoppers upserted, then events stored in batches of ``batch_size``, one transaction each.
"""

from __future__ import annotations

import csv
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.db import transaction
from tqdm import tqdm

from behavior.models import EventKind
from behavior.selectors import product_ids_for_skus
from behavior.services import EventRow, store_events, upsert_shoppers
from catalog.categorize import categorize
from catalog.importing import BadLines, ByteProgress, ImportFileError, csv_header, open_text
from catalog.services import upsert_products

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

NON_PRODUCT = "non-product code (postage, fees, adjustments, vouchers)"
CANCELLATION = "cancellation invoice (C…)"
NO_QUANTITY = "quantity 0 or below"
NO_PRICE = "unit price 0 or below"
NO_CUSTOMER = "no CustomerID (cannot be attributed to a shopper)"
PURCHASE = str(EventKind.PURCHASE)


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
    skipped: Counter = field(default_factory=Counter)
    bad: BadLines = field(default_factory=BadLines)


class _Purchase(NamedTuple):
    """One purchase line; repeated strings are shared between lines to keep memory small."""

    invoice: str
    sku: str
    quantity: int
    occurred_at: datetime
    customer: str


class _Tally:
    """Counts of values, remembering when each was last seen (ties go to the latest)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: dict = {}

    def add(self, value, line: int) -> None:
        count = self.seen.get(value, (0, 0))[0]
        self.seen[value] = (count + 1, line)

    def best(self):
        return max(self.seen.items(), key=lambda item: item[1])[0] if self.seen else None


@dataclass
class _Scan:
    titles: dict[str, _Tally] = field(default_factory=dict)
    prices: dict[str, _Tally] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)
    purchases: list[_Purchase] = field(default_factory=list)


def import_online_retail(
    *, path: Path | str, batch_size: int = 20_000, progress: bool = True
) -> OnlineRetailReport:
    """Import products, shoppers and purchase events from the file; re-running adds nothing.

    Raises ``ImportFileError`` before writing anything when the file is missing, damaged or
    has other columns. Each event batch is one transaction: an interruption loses no stored
    batch and leaves no half-written one.
    """
    started = time.perf_counter()
    report = OnlineRetailReport()
    scan = _read(path, report, progress)
    sku_ids, shopper_ids = _write_catalog(scan, report)
    _store_purchases(scan.purchases, sku_ids, shopper_ids, batch_size, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def _read(path: Path | str, report: OnlineRetailReport, progress: bool) -> _Scan:
    """Stream and classify every line (see the module docstring); keep only purchases."""
    scan = _Scan()
    # Caches: 4k codes, 23k timestamps, 26k invoices, 4k customers across 541k lines. Parsing
    # each once and sharing the objects makes the read ~2× faster and the purchases list small.
    skus: dict[str, str | None] = {}
    dates: dict[str, datetime] = {}
    invoices: dict[str, str] = {}
    customers: dict[str, str] = {}
    with open_text(path) as (text, raw, size):
        reader = csv.reader(text)
        if tuple(csv_header(reader, path=path, allowed=COLUMNS, required=COLUMNS)) != COLUMNS:
            raise ImportFileError(f"{path}: expected the columns in order {','.join(COLUMNS)}.")
        bar = ByteProgress(raw, total=size, desc="read", enabled=progress)
        for cells in reader:
            report.lines += 1
            if report.lines % 10_000 == 0:
                bar.update()
            if len(cells) != len(COLUMNS):
                report.bad.add(reader.line_num, f"expected 8 fields, found {len(cells)}")
                continue
            invoice, code, description, quantity, date, price, customer, country = cells
            sku = skus.get(code, "")
            if sku == "":
                sku = skus[code] = _sku(code)
            try:
                reason = _skip_reason(sku, invoice, quantity, price)
                at = dates.get(date) or dates.setdefault(date, _local_time(date))
            except ValueError as exc:
                report.bad.add(reader.line_num, f"unreadable value ({exc})")
                continue
            if reason:
                report.skipped[reason] += 1
                continue
            assert sku is not None
            _tally_product(scan, sku, description, price, reader.line_num)
            if not customer:
                report.skipped[NO_CUSTOMER] += 1
                continue
            customer = customers.get(customer) or customers.setdefault(
                customer, customer.removesuffix(".0")
            )
            scan.countries[customer] = country.strip()
            invoice = invoices.setdefault(invoice, invoice)
            scan.purchases.append(_Purchase(invoice, sku, int(quantity), at, customer))
        bar.close()
    return scan


def _sku(code: str) -> str | None:
    sku = code.strip().upper()
    return sku if PRODUCT_CODE.fullmatch(sku) else None


def _skip_reason(sku: str | None, invoice: str, quantity: str, price: str) -> str | None:
    if sku is None:
        return NON_PRODUCT
    if invoice.startswith("C"):
        return CANCELLATION
    if int(quantity) <= 0:
        return NO_QUANTITY
    if float(price) <= 0:
        return NO_PRICE
    return None


def _local_time(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def _tally_product(scan: _Scan, sku: str, description: str, price: str, line: int) -> None:
    if sku not in scan.titles:
        scan.titles[sku], scan.prices[sku] = _Tally(), _Tally()
    if description := description.strip():
        scan.titles[sku].add(description, line)
    scan.prices[sku].add(price, line)


@transaction.atomic
def _write_catalog(scan: _Scan, report: OnlineRetailReport):
    rows = []
    for sku, tally in scan.titles.items():
        description = tally.best() or ""
        price = Decimal(scan.prices[sku].best()).quantize(CENT, rounding=ROUND_HALF_UP)
        rows.append(
            {
                "sku": sku,
                "title": title_case(description) or sku,
                "price": price,
                "currency": "GBP",
                "category": "/".join(categorize(description)),
            }
        )
    result = upsert_products(rows=rows)
    if result.errors:  # the rules above only build valid rows; a failure here is a bug
        raise ImportFileError(f"Products rejected: {dict(list(result.errors.items())[:5])}")
    report.products_created = result.created
    report.products_updated = result.updated
    report.products_unchanged = result.unchanged
    sku_ids = product_ids_for_skus(skus=scan.titles)
    shopper_ids, report.shoppers_created = upsert_shoppers(countries=scan.countries)
    report.shoppers = len(shopper_ids)
    return sku_ids, shopper_ids


def _store_purchases(purchases, sku_ids, shopper_ids, batch_size, report, progress) -> None:
    occurrences: Counter = Counter()
    bar = tqdm(total=len(purchases), desc="store", unit=" events", disable=not progress)
    for start in range(0, len(purchases), batch_size):
        rows = []
        for p in purchases[start : start + batch_size]:
            key = f"{p.invoice}:{p.sku}"
            occurrences[key] += 1
            rows.append(
                EventRow(
                    f"oretail:{key}:{occurrences[key]}",
                    shopper_ids[p.customer],
                    sku_ids[p.sku],
                    PURCHASE,
                    float(p.quantity),
                    "",
                    "",
                    p.invoice,
                    p.occurred_at,
                )
            )
        with transaction.atomic():
            stored = store_events(rows=rows)
        report.events_stored += len(stored)
        report.duplicates += len(rows) - len(stored)
        report.batches += 1
        bar.update(len(rows))
    bar.close()


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def title_case(text: str) -> str:
    """ "CHILD'S T-LIGHT HOLDER" → "Child's T-Light Holder" (str.title() gives "Child'S")."""
    return _WORD.sub(lambda m: m.group(0).capitalize(), " ".join(text.split()))
