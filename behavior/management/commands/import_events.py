"""manage.py import_events PATH: ingest events from JSON lines or CSV (see ingest_formats.md)."""

from behavior.importing import EventsImportReport, import_events_file
from catalog.import_command import FileImportCommand


class Command(FileImportCommand):
    help = (
        "Ingest shopper events from a JSON-lines or CSV file (plain or .gz) in the API event "
        "schema. Events already stored (same event_id) are skipped, so re-running adds nothing."
    )
    default_batch_size = 5000

    def import_file(self, **options) -> EventsImportReport:
        return import_events_file(**options)

    def summary(self, report: EventsImportReport) -> str:
        return (
            f"{report.lines:,} {report.format} lines: {report.stored:,} events stored, "
            f"{report.duplicates:,} duplicates skipped, "
            f"{report.shoppers_created:,} new shoppers."
        )
