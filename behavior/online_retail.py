"""Import the UCI Online Retail file (../shared/datasets/online_retail) as catalog + purchases.

Every line is read and checked first (``online_retail_lines``, with the rules), so a damaged file
stores nothing; then products and shoppers are upserted and the purchases stored in batches
(``online_retail_writer``). Re-importing adds nothing.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from behavior.countries import country_code
from behavior.event_checks import MAX_FUTURE
from behavior.online_retail_lines import CENT, OnlineRetailReport, Scan, read_lines
from behavior.online_retail_writer import BATCH_SIZE, WRITERS, store_purchases
from behavior.selectors import product_ids_for_skus
from behavior.services import upsert_shoppers
from catalog.categorize import categorize
from catalog.importing import ImportFileError
from catalog.services import upsert_products

TITLE_LENGTH = 255  # Product.title's max_length


def import_online_retail(
    *,
    path: Path | str,
    batch_size: int = BATCH_SIZE,
    writers: int = WRITERS,
    progress: bool = True,
    now: datetime | None = None,
) -> OnlineRetailReport:
    """Import products, shoppers and purchase events from the file; re-running adds nothing.

    Raises ``ImportFileError`` before writing anything when the file is missing, damaged or
    has other columns, and ``EventBatchError`` when a batch of events fails: each batch is one
    transaction, so an interruption loses no committed batch and leaves no half-written one.
    ``now`` (default: the clock) is what an InvoiceDate may be at most a day after.
    """
    started = time.perf_counter()
    report = OnlineRetailReport()
    scan = read_lines(path, report, progress, latest=(now or timezone.now()) + MAX_FUTURE)
    report.phases["read"] = time.perf_counter() - started
    sku_ids, shopper_ids = _write_catalog(scan, report)
    report.phases["catalog"] = time.perf_counter() - started - report.phases["read"]
    store_purchases(
        scan.purchases,
        sku_ids,
        shopper_ids,
        batch_size=batch_size,
        writers=writers,
        report=report,
        progress=progress,
    )
    report.seconds = time.perf_counter() - started
    return report


def _best(tallies: dict[str, list[int]]) -> str | None:
    """The most common value; ties go to the one seen last."""
    return max(tallies.items(), key=lambda item: item[1])[0] if tallies else None


def _products(sales: dict[tuple[str, str, str], list[int]]) -> dict[str, tuple[str, str]]:
    """sku → (most common description, most common unit price), skus in first-sale order."""
    titles: dict[str, dict[str, list[int]]] = {}
    prices: dict[str, dict[str, list[int]]] = {}
    for (sku, description, price), (count, last) in sales.items():
        for tallies, value in ((prices, price), (titles, description.strip())):
            per_sku = tallies.setdefault(sku, {})
            if not value:
                continue  # a blank description is no title
            tally = per_sku.setdefault(value, [0, 0])
            tally[0] += count
            tally[1] = max(tally[1], last)
    return {sku: (_best(titles[sku]) or "", _best(prices[sku]) or "") for sku in prices}


@transaction.atomic
def _write_catalog(scan: Scan, report: OnlineRetailReport):
    rows = []
    products = _products(scan.sales)
    for sku, (description, unit_price) in products.items():
        price = Decimal(unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
        rows.append(
            {
                "sku": sku,
                # A derived display title: cut to the column's 255 rather than refuse the
                # product (the file's longest description is 35 characters).
                "title": title_case(description)[:TITLE_LENGTH] or sku,
                "price": price,
                "currency": "GBP",
                "category": "/".join(categorize(description)),
            }
        )
    result = upsert_products(rows=rows)
    if result.errors:  # read_lines' checks leave only valid rows; a failure here is a bug
        rejected = "; ".join(
            f"{rows[index]['sku']}: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
            for index, errors in list(result.errors.items())[:5]
        )
        raise ImportFileError(f"Products rejected by the catalog, nothing stored: {rejected}")
    report.products_created = result.created
    report.products_updated = result.updated
    report.products_unchanged = result.unchanged
    sku_ids = product_ids_for_skus(skus=products)
    shopper_ids, report.shoppers_created = upsert_shoppers(
        countries=_country_codes(scan.countries, report)
    )
    report.shoppers = len(shopper_ids)
    return sku_ids, shopper_ids


def _country_codes(countries: dict[str, str], report: OnlineRetailReport) -> dict[str, str]:
    """Shopper → ISO code ("EIRE" → "IE"); a name with no code leaves the shopper without a
    country and is counted in the report."""
    codes = {name: country_code(name) for name in set(countries.values())}
    for name in countries.values():
        if codes[name] is None:
            report.unknown_countries[name] += 1
    return {shopper: codes[name] or "" for shopper, name in countries.items()}


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


def title_case(text: str) -> str:
    """ "CHILD'S T-LIGHT HOLDER" → "Child's T-Light Holder" (str.title() gives "Child'S")."""
    return _WORD.sub(lambda m: m.group(0).capitalize(), " ".join(text.split()))
