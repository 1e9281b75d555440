"""manage.py simulate_traffic: simulated shoppers click and buy through the real API."""

from __future__ import annotations

import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from demo.selectors import simulated_shoppers
from demo.simulation import (
    HttpApi,
    SimulationError,
    in_process_api,
    simulate_traffic,
    store_simulated_days,
)
from demo.traffic import parse_lifts
from placements.selectors import active_placement

MAX_DAYS = 90


class Command(BaseCommand):
    help = (
        "Simulate shoppers with the shop's planted tastes (declared interests) seeing "
        "recommendations, clicking and buying with known probabilities (demo.traffic), through "
        "the real API; then store the impressions and refresh the KPIs of the simulated days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7, help="Days ending now (default 7).")
        parser.add_argument("--shoppers", type=int, default=200, help="Shoppers (default 200).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--url",
            help="A running server's base URL (needs --token); the server keeps its own clock.",
        )
        parser.add_argument("--token", help="A backend API token, for --url.")
        parser.add_argument(
            "--placement",
            default="",
            help="Visit this placement (e.g. home-for-you) instead of the for_you slot, so an "
            "A/B test running on it assigns each shopper a variant.",
        )
        parser.add_argument(
            "--lift",
            action="append",
            default=[],
            metavar="VARIANT=MULTIPLIER",
            help="Plant a click lift on an A/B variant, by name (e.g. --lift B=1.05: 5 %% more "
            "clicks); repeat for several. Variants not named keep 1.",
        )

    def handle(self, *args, **options) -> None:
        days, count = options["days"], options["shoppers"]
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS} (got {days}).")
        if count < 1:
            raise CommandError(f"--shoppers must be at least 1 (got {count}).")
        if options["url"] and not options["token"]:
            raise CommandError("--url needs --token (a backend client's API token).")
        try:
            lifts = parse_lifts(options["lift"])
        except ValueError as exc:
            raise CommandError(f"--lift {exc}") from exc
        placement = options["placement"]
        if placement and not options["url"] and active_placement(name=placement) is None:
            raise CommandError(f"--placement: no active placement named {placement!r}.")
        shoppers = simulated_shoppers(count=count, seed=options["seed"])
        if not shoppers:
            raise CommandError("The shop has no shoppers: build one first (manage.py demo).")
        now = timezone.now()
        start = now - timedelta(days=days)
        remote = bool(options["url"])
        try:
            api = (
                HttpApi(url=options["url"], token=options["token"]) if remote else in_process_api()
            )
            report = simulate_traffic(
                api=api,
                shoppers=shoppers,
                start=start,
                days=days,
                seed=options["seed"],
                placement=placement,
                lifts=lifts,
                simulated_clock=not remote,
                progress=_progress,
            )
        except SimulationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{report.visits:,} visits, {report.responses:,} responses, "
            f"{report.clicks.observed:,} clicks (planted {report.clicks.expected:,.0f}), "
            f"{report.purchases.observed:,} purchases (planted {report.purchases.expected:,.0f})."
        )
        for variant, (responses, clicks, buys) in sorted(report.per_variant.items()):
            if variant:
                self.stdout.write(
                    f"  variant {variant}: {responses:,} responses, {clicks:,} clicks, "
                    f"{buys:,} purchases."
                )
        if remote:
            self.stdout.write("Sent to the server: its worker stores and refreshes the KPIs.")
            return
        stored = store_simulated_days(start=start, days=days, now=timezone.now())
        self.stdout.write(f"Stored {stored:,} impressions; KPIs refreshed for {days + 1} days.")


def _progress(items, label: str, total: int):
    return tqdm(items, desc=label, total=total, unit="visit", file=sys.stderr)
