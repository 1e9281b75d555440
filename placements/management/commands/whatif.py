"""``manage.py whatif``: replay a placement on recent traffic, live versus its draft rules."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from placements.selectors import placement_named
from placements.whatif import DEFAULT_DAYS, WhatIfError, WhatIfReport, run_whatif

ROWS = (
    ("hit rate", "hit_rate", "{:.4f}"),
    ("NDCG", "ndcg", "{:.4f}"),
    ("promoted share", "promoted_share", "{:.3f}"),
    ("catalog coverage", "coverage", "{:.3f}"),
    ("categories per list", "categories_per_list", "{:.2f}"),
    ("revenue of shown, bought later", "revenue", "{:,.2f}"),
)


class Command(BaseCommand):
    help = (
        "Replay a placement on the last N days of traffic twice, as it is live and with its "
        "draft rules (all, or --rule), on models fitted on the events before the cut, and "
        "compare what each version showed with what the shoppers went on to do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("placement", help="The placement's name, e.g. home-for-you.")
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="Default 7.")
        parser.add_argument(
            "--rule",
            type=int,
            action="append",
            dest="rule_ids",
            metavar="ID",
            help="Try only this draft rule (repeatable). Default: every draft.",
        )
        parser.add_argument(
            "--max-shoppers", type=int, metavar="N", help="Replay a seeded sample of N shoppers."
        )
        parser.add_argument("--json", metavar="PATH", help="Write the comparison as JSON here.")

    def handle(self, *args, **options) -> None:
        placement = placement_named(name=options["placement"])
        if placement is None:
            raise CommandError(f"No placement named {options['placement']!r}.")
        with tqdm(total=100, unit="%", leave=False) as bar:

            def progress(percent: float, stage: str) -> None:
                bar.set_description(stage)
                bar.update(max(0, int(percent) - bar.n))

            try:
                report = run_whatif(
                    placement=placement,
                    now=timezone.now(),
                    days=options["days"],
                    rule_ids=options["rule_ids"],
                    max_shoppers=options["max_shoppers"],
                    progress=progress,
                )
            except WhatIfError as exc:
                option = "" if exc.field == "placement" else f"--{exc.field.replace('_', '-')}: "
                raise CommandError(f"{option}{exc}") from exc
        self._table(report)
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(report.as_dict(), indent=1, default=str))
            self.stdout.write(f"Report written to {options['json']}")

    def _table(self, report: WhatIfReport) -> None:
        result = report.result
        facts = result["facts"]
        drafts = ", ".join(f"#{r['id']} {r['name']}" for r in facts["draft_rules"])
        self.stdout.write(
            f"{report.placement}: {result['n_shoppers']:,} shoppers replayed from "
            f"{report.cut:%Y-%m-%d} to {report.end:%Y-%m-%d %H:%M} UTC, k = {result['k']}; "
            f"drafts tried: {drafts}"
        )
        self.stdout.write(f"{'':<32} {'live':>12} {'with drafts':>12} {'difference':>12}")
        rows = [(label, key, fmt, None) for label, key, fmt in ROWS]
        rows += [
            (f"exposure: {name}", "exposure", "{:.3f}", name) for name in result["live"]["exposure"]
        ]
        for label, key, fmt, name in rows:
            cells = []
            for version in ("live", "with_drafts", "difference"):
                value = result[version][key]
                cells.append(fmt.format(value if name is None else value[name]))
            self.stdout.write(f"{label:<32} {cells[0]:>12} {cells[1]:>12} {cells[2]:>12}")
        change = result["hit_rate_change"]
        self.stdout.write(
            f"hit-rate difference {change['difference']:+.4f}, 95 % interval "
            f"[{change['low']:+.4f}, {change['high']:+.4f}] (paired bootstrap over shoppers)"
        )
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in facts["stage_seconds"].items())
        self.stdout.write(f"stages: {stages}")
        self.stdout.write(result["summary"])
