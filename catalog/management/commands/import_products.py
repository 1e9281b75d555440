"""manage.py import_products PATH: upsert products by sku from a CSV (see ingest_formats.md)."""

from catalog.import_command import FileImportCommand
from catalog.importing import ProductsImportReport, import_products_file


class Command(FileImportCommand):
    help = (
        "Create or update products from a CSV (plain or .gz) with the header "
        "sku,title,description,category,brand,price,currency,stock,is_active,points_price,"
        "attributes (sku, title and price required). Re-running changes nothing."
    )
    default_batch_size = 2000

    def import_file(self, **options) -> ProductsImportReport:
        return import_products_file(**options)

    def summary(self, report: ProductsImportReport) -> str:
        return (
            f"{report.lines:,} lines: {report.created:,} created, "
            f"{report.updated:,} updated, {report.unchanged:,} unchanged."
        )
