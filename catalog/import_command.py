"""The shape every file-import management command shares: PATH, --dry-run, --batch-size,
--no-progress, a one-line summary, bad lines on stderr and a non-zero exit when any was rejected.
Each command supplies only its import function and its summary line."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError

from catalog.importing import BadLines, ImportFileError, bad_lines_summary


class FileImportCommand(BaseCommand):
    default_batch_size: ClassVar[int] = 2000

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count; store nothing."
        )
        parser.add_argument("--batch-size", type=int, default=self.default_batch_size)
        parser.add_argument("--no-progress", action="store_true")

    def import_file(self, *, path: str, dry_run: bool, batch_size: int, progress: bool) -> Any:
        """Run the import; the report must carry ``bad: BadLines``."""
        raise NotImplementedError

    def summary(self, report: Any) -> str:
        """One line saying what was stored."""
        raise NotImplementedError

    def handle(self, *args, path, dry_run, batch_size, no_progress, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            report = self.import_file(
                path=path, dry_run=dry_run, batch_size=batch_size, progress=not no_progress
            )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        prefix = "Dry run, nothing stored. Would have: " if dry_run else ""
        self.stdout.write(prefix + self.summary(report))
        bad: BadLines = report.bad
        for line in bad_lines_summary(bad):
            self.stderr.write(line)
        if bad.count:
            raise CommandError(f"{bad.count:,} lines were rejected (listed above).")
