"""manage.py demo: build a realistic demo shop, print the login, and serve the site."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from demo import selectors, services
from demo.simulation import simulate_demo_week
from demo.stages import Stages
from demo.synthetic import GENERAL
from demo.throwaway import (
    assert_throwaway_database,
    in_throwaway_database,
    run_in_throwaway_database,
)
from demo.verticals import VERTICALS

# The simulated week after a build (demo.simulation), 3 % of the default shop's shoppers:
# about 1,500 requests, a minute on a loaded 2-core machine (README, "The demo").
DEMO_TRAFFIC_SHOPPERS = 150
# Scale 100: 200k products, 500k shoppers, 20M events, a few GB in PostgreSQL.
MAX_SCALE = 100


class Command(BaseCommand):
    help = (
        "Build a realistic demo shop (synthetic, or from the Online Retail file), create the "
        "merchandiser login and serve the site. --check builds it on a throwaway SQLite "
        "database, verifies it and exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help=f"Size relative to the default shop (at most {MAX_SCALE}).",
        )
        parser.add_argument(
            "--now", help="Build the shop as if it were this ISO time (default: now)."
        )
        parser.add_argument(
            "--vertical",
            default=GENERAL,
            choices=(GENERAL, *VERTICALS),
            help="The kind of shop to synthesise, with planted tastes and bundles "
            "(default: general, every department).",
        )
        parser.add_argument("--reset", action="store_true", help="Wipe demo data first.")
        parser.add_argument("--no-serve", action="store_true", help="Build, then exit.")
        parser.add_argument(
            "--verify", action="store_true", help="Exit non-zero if a slot has nothing to show."
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Build and verify on a throwaway SQLite database; never serves.",
        )
        parser.add_argument(
            "--online-retail", metavar="PATH", help="Build from the UCI Online Retail CSV."
        )
        parser.add_argument(
            "--no-train", action="store_true", help="Skip training the models (faster)."
        )
        parser.add_argument(
            "--traffic-shoppers",
            type=int,
            help="Shoppers in the simulated week that fills the KPI page (default "
            f"{DEMO_TRAFFIC_SHOPPERS} x --scale; 0 skips it).",
        )
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="Where to serve.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Allow running with DEBUG off (the demo login has a published password).",
        )

    def handle(self, *args, **options) -> None:
        now = _parse_now(options["now"])
        if not 0 < options["scale"] <= MAX_SCALE:
            raise CommandError(
                f"--scale must be above 0 and at most {MAX_SCALE:g} "
                f"(got {options['scale']:g}; scale {MAX_SCALE:g} is 200k products and 20M events)."
            )
        if options["traffic_shoppers"] is None:
            options["traffic_shoppers"] = max(1, round(DEMO_TRAFFIC_SHOPPERS * options["scale"]))
        if options["traffic_shoppers"] < 0:
            raise CommandError("--traffic-shoppers must be 0 (none) or more.")
        path = options["online_retail"]
        if path and options["vertical"] != GENERAL:
            raise CommandError(
                "--vertical builds a synthetic shop; it cannot be combined with --online-retail."
            )
        if path and not Path(path).is_file():
            raise CommandError(f"--online-retail: no such file: {path}")
        if options["check"] and not in_throwaway_database():
            return self._check_in_throwaway(options, now=now)
        if in_throwaway_database():
            assert_throwaway_database()
        elif not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off: this looks like production, and the demo creates a superuser "
                "with a published password. Pass --force if you really mean it."
            )

        started = time.monotonic()
        stages = Stages()
        with stages.stage("migrate"):
            call_command("migrate", interactive=False, verbosity=0)
        if options["reset"]:
            with stages.stage("reset"):
                deleted = services.reset_demo_data()
            self.stdout.write("Reset: deleted " + _join(deleted) + ".")
        built, notes = (
            self._build_from_file(path, options, now)
            if path
            else self._build(options, now, stages=stages)
        )
        run = None
        if not options["no_train"]:
            self.stdout.write("Training the models…")
            self.stdout.flush()
            with stages.stage("training"):
                run = services.train_demo_models(retrain=built)
        if built and options["traffic_shoppers"] > 0:
            with stages.stage("traffic simulation"):
                self._simulate_week(options, now=now)
        username, password = services.ensure_demo_login()
        self._summary(now=now, notes=notes, seconds=time.monotonic() - started)
        self.stdout.write("Time per stage (cpu: this process; db cpu: the database backend):")
        for line in stages.table():
            self.stdout.write(line)
        self.stdout.write(f"Models: {_describe_run(run, skipped=options['no_train'])}")
        if options["verify"] or options["check"]:
            self._verify(now=now, synthetic=not path, options=options, run=run)
        if options["no_serve"] or options["check"]:
            self._login_banner(username, password, serving=False, addrport=options["addrport"])
            return
        self._login_banner(username, password, serving=True, addrport=options["addrport"])
        call_command("runserver", options["addrport"], use_reloader=False)

    def _simulate_week(self, options: dict, *, now: datetime) -> None:
        self.stdout.write("Simulating a week of shoppers through the API…")
        self.stdout.flush()
        began = time.monotonic()
        report = simulate_demo_week(
            seed=options["seed"],
            now=now,
            shoppers=options["traffic_shoppers"],
            event_prefix=f"{services.EVENT_PREFIX}sim-",
            progress=_visit_progress,
        )
        self.stdout.write(
            f"Simulated week: {report.responses:,} responses, {report.clicks.observed:,} "
            f"clicks, {report.purchases.observed:,} purchases "
            f"({time.monotonic() - began:.0f} s); the KPI page shows them."
        )

    def _check_in_throwaway(self, options: dict, *, now: datetime) -> None:
        args = ["demo", "--no-serve", "--verify", "--seed", str(options["seed"])]
        args += ["--scale", str(options["scale"]), "--now", now.isoformat()]
        args += ["--vertical", options["vertical"]]
        if options["no_train"]:
            args.append("--no-train")
        args += ["--traffic-shoppers", str(options["traffic_shoppers"])]
        if options["online_retail"]:
            args += ["--online-retail", str(Path(options["online_retail"]).resolve())]
        self.stdout.write("Checking the demo on a throwaway SQLite database…")
        self.stdout.flush()
        code = run_in_throwaway_database(args=args)
        if code:
            raise CommandError(f"Demo check failed (exit code {code}); see the output above.")
        self.stdout.write(self.style.SUCCESS("Demo check passed."))

    def _build(self, options: dict, now: datetime, *, stages: Stages) -> tuple[bool, list[str]]:
        if selectors.demo_shop_exists():
            return False, ["A demo shop already exists: kept as it is (use --reset to rebuild)."]
        services.build_demo_shop(
            seed=options["seed"],
            now=now,
            scale=options["scale"],
            vertical=options["vertical"],
            progress=_progress,
            stages=stages,
        )
        vertical = "" if options["vertical"] == GENERAL else f"{options['vertical']} "
        return True, [f"Synthetic {vertical}demo shop built with seed {options['seed']}."]

    def _build_from_file(self, path: str, options: dict, now: datetime) -> tuple[bool, list[str]]:
        if selectors.dressed_shop_exists():
            return False, ["An imported demo shop already exists: kept as it is (use --reset)."]
        call_command("import_online_retail", path)
        try:
            added = services.dress_imported_shop(seed=options["seed"], now=now)
        except ValueError as error:
            raise CommandError(str(error)) from error
        return True, [
            f"Imported {path}.",
            "Demo data added (the file has none): promotions named '[demo] …', points prices, "
            f"balances and sold-out stock ({_join(added)}), seeded with {options['seed']}.",
        ]

    def _summary(self, *, now: datetime, notes: list[str], seconds: float) -> None:
        for note in notes:
            self.stdout.write(note)
        self.stdout.write(f"Shop as of {now:%Y-%m-%d %H:%M %Z} ({seconds:.1f} s):")
        for what, n in selectors.shop_counts(now=now).items():
            self.stdout.write(f"  {what:<28} {n:>9,}")

    def _verify(self, *, now: datetime, synthetic: bool, options: dict, run) -> None:
        self.stdout.write(f"Fingerprint: {selectors.shop_fingerprint()}")
        problems = selectors.shop_problems(
            now=now, synthetic=synthetic, scale=options["scale"], vertical=options["vertical"]
        )
        problems += selectors.slot_problems(now=now)
        if run is not None and run.status != "succeeded":
            reason = (run.error or "no error recorded").splitlines()[0]
            problems.append(f"training run #{run.pk} {run.status}: {reason}")
        if problems:
            raise CommandError("The demo shop is incomplete: " + "; ".join(problems) + ".")
        self.stdout.write(self.style.SUCCESS("Verified: every slot has something to show."))

    def _login_banner(self, username: str, password: str, *, serving: bool, addrport: str):
        base = f"http://{addrport}/"
        try:
            resolve("/")
            pages = [f"Dashboard: {base}", f"Admin:     {base}admin/"]
        except Resolver404:
            pages = [f"Admin:     {base}admin/  (the dashboard is coming)"]
        lines = [
            f"Log in as  {username} / {password}",
            *pages,
            f"API docs:  {base}api/docs/",
        ]
        if not serving:
            lines.insert(0, "Not serving (--no-serve). Start with: scripts/demo")
        width = max(len(line) for line in lines) + 4
        self.stdout.write(self.style.SUCCESS("=" * width))
        for line in lines:
            self.stdout.write(self.style.SUCCESS(f"  {line}"))
        self.stdout.write(self.style.SUCCESS("=" * width))


def _parse_now(value: str | None) -> datetime:
    if not value:
        return timezone.now().replace(microsecond=0)
    try:
        parsed = parse_datetime(value)
    except ValueError as exc:  # well-formed but impossible, e.g. February 30th
        raise CommandError(f"--now: not an ISO date and time: {value!r} ({exc})") from exc
    if parsed is None:
        raise CommandError(f"--now: not an ISO date and time: {value!r}")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError as exc:  # year 1 or 9999 shifted past the calendar's ends
        raise CommandError(f"--now: not an ISO date and time: {value!r} ({exc})") from exc
    # Here, before --check starts its child or --online-retail imports: a time the shop cannot
    # be built around (0001-01-05 overflowed 90 days back) stops with nothing stored.
    try:
        services.check_demo_time(now=parsed)
    except ValueError as exc:
        raise CommandError(f"--now {value}: {exc}.") from exc
    return parsed


def _describe_run(run, *, skipped: bool) -> str:
    if skipped:
        return "not trained (--no-train)."
    return f"training run #{run.pk} {run.status}."


def _progress(items, label: str, total: int):
    return tqdm(items, desc=label, total=total, unit="batch", file=sys.stderr)


def _visit_progress(items, label: str, total: int):
    return tqdm(items, desc=label, total=total, unit="visit", file=sys.stderr)


def _join(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {what}" for what, n in counts.items())
