"""manage.py import_online_retail PATH: the UCI Online Retail file as products, shoppers and
purchases (rules in behavior/online_retail_lines.py and behavior/ingest_formats.md)."""

from django.core.management.base import BaseCommand, CommandError

from behavior.online_retail import import_online_retail
from behavior.online_retail_writer import BATCH_SIZE, WRITERS, EventBatchError
from catalog.importing import ImportFileError, bad_lines_summary


class Command(BaseCommand):
    help = (
        "Import ../shared/datasets/online_retail/online_retail.csv.gz: products, shoppers and "
        "one purchase event per invoice line. Idempotent: re-running adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="Events per transaction."
        )
        parser.add_argument(
            "--writers",
            type=int,
            default=WRITERS,
            help="Threads storing batches on PostgreSQL (0: store them in this thread).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path, batch_size, writers, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if writers < 0:
            raise CommandError("--writers must be 0 or more.")
        try:
            r = import_online_retail(
                path=path, batch_size=batch_size, writers=writers, progress=not no_progress
            )
        except (ImportFileError, EventBatchError) as exc:
            raise CommandError(str(exc)) from exc
        rate = r.lines / r.seconds if r.seconds else 0
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in r.phases.items())
        out = [
            f"{r.lines:,} lines read in {r.seconds:.1f} s ({rate:,.0f} lines/s: {phases}).",
            f"Products: {r.products_created:,} created, {r.products_updated:,} updated, "
            f"{r.products_unchanged:,} unchanged.",
            f"Shoppers: {r.shoppers:,} ({r.shoppers_created:,} new).",
            *(
                f"  {count:>8,}  shoppers without a country: {name!r} has no ISO code"
                for name, count in r.unknown_countries.most_common()
            ),
            f"Purchase events: {r.events_stored:,} stored, {r.duplicates:,} already there "
            f"({r.batches} batches).",
            "Lines skipped by reason:",
            *(f"  {count:>8,}  {reason}" for reason, count in r.skipped.most_common()),
        ]
        self.stdout.write("\n".join(out))
        for line in bad_lines_summary(r.bad):
            self.stderr.write(line)
        if r.bad.count:
            raise CommandError(f"{r.bad.count:,} lines could not be read (listed above).")
