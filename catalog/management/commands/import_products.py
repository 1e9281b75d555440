"""manage.py import_products PATH: upsert products by sku from a CSV (see ingest_formats.md)."""

from django.core.management.base import BaseCommand, CommandError

from catalog.importing import ImportFileError, bad_lines_summary, import_products_file


class Command(BaseCommand):
    help = (
        "Create or update products from a CSV (plain or .gz) with the header "
        "sku,title,description,category,brand,price,currency,stock,is_active,points_price,"
        "attributes (sku, title and price required). Re-running changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count; store nothing."
        )
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path, dry_run, batch_size, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            report = import_products_file(
                path=path, dry_run=dry_run, batch_size=batch_size, progress=not no_progress
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        prefix = "Dry run, nothing stored. Would have: " if dry_run else ""
        self.stdout.write(
            f"{prefix}{report.lines:,} lines: {report.created:,} created, "
            f"{report.updated:,} updated, {report.unchanged:,} unchanged."
        )
        for line in bad_lines_summary(report.bad):
            self.stderr.write(line)
        if report.bad.count:
            raise CommandError(f"{report.bad.count:,} lines were rejected (listed above).")
