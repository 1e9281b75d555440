"""manage.py import_events PATH: ingest events from JSON lines or CSV (see ingest_formats.md)."""

from django.core.management.base import BaseCommand, CommandError

from behavior.importing import import_events_file
from catalog.importing import ImportFileError, bad_lines_summary


class Command(BaseCommand):
    help = (
        "Ingest shopper events from a JSON-lines or CSV file (plain or .gz) in the API event "
        "schema. Events already stored (same event_id) are skipped, so re-running adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count; store nothing."
        )
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path, dry_run, batch_size, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            report = import_events_file(
                path=path, dry_run=dry_run, batch_size=batch_size, progress=not no_progress
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        prefix = "Dry run, nothing stored. Would have: " if dry_run else ""
        self.stdout.write(
            f"{prefix}{report.lines:,} {report.format} lines: {report.stored:,} events stored, "
            f"{report.duplicates:,} duplicates skipped, "
            f"{report.shoppers_created:,} new shoppers."
        )
        for line in bad_lines_summary(report.bad):
            self.stderr.write(line)
        if report.bad.count:
            raise CommandError(f"{report.bad.count:,} lines were rejected (listed above).")
