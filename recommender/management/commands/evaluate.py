"""``manage.py evaluate``: replay the shop at a cut time and score the lists it serves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender.replay.services import ReplayError, ReplayReport, replay_shop, write_lists
from recommender.training.services import UnknownAlgorithm

COLUMNS = ("ndcg@10", "recall@10", "hr@10", "coverage@10")


class Command(BaseCommand):
    help = (
        "Replay the shop at a cut time (default: the last 10 %% of first (shopper, product) "
        "events, the reference scorer's global protocol): train on the events before it, serve "
        "every shopper with events on both sides through the API's function, and score the "
        "lists against popularity and a tuned EASE. Champions and training runs are untouched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cut", metavar="ISO-TIME", help="Replay at this time instead.")
        parser.add_argument(
            "--max-shoppers", type=int, metavar="N", help="Score a seeded sample of N shoppers."
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the sample (default 0).")
        parser.add_argument(
            "--algorithm",
            action="append",
            dest="algorithms",
            metavar="NAME",
            help="Fit only this algorithm (repeatable). Default: SHELFWISE_TRAINING_ALGORITHMS.",
        )
        parser.add_argument("--json", metavar="PATH", help="Write the report as JSON here.")
        parser.add_argument(
            "--lists", metavar="DIR", help="Write each list as user,item,rank CSV here."
        )
        parser.add_argument(
            "--tuning-budget",
            type=float,
            metavar="SECONDS",
            help="Per-shop tuning per replay, as a training run does "
            "(default: SHELFWISE_TUNING_BUDGET_SECONDS; 0: the configured defaults).",
        )

    def handle(self, *args, **options) -> None:
        cut = _cut(options["cut"])
        if options["max_shoppers"] is not None and options["max_shoppers"] < 1:
            raise CommandError("--max-shoppers must be at least 1.")
        if options["tuning_budget"] is not None and options["tuning_budget"] < 0:
            raise CommandError("--tuning-budget cannot be negative.")
        try:
            report = replay_shop(
                cut=cut,
                algorithms=options["algorithms"],
                max_shoppers=options["max_shoppers"],
                seed=options["seed"],
                track=lambda items, **kw: tqdm(items, leave=False, **kw),
                tuning_budget_seconds=options["tuning_budget"],
            )
        except (ReplayError, UnknownAlgorithm) as exc:
            raise CommandError(str(exc)) from exc
        self._table(report)
        if options["json"]:
            Path(options["json"]).write_text(json.dumps(report.as_dict(), indent=1, default=str))
            self.stdout.write(f"Report written to {options['json']}")
        if options["lists"]:
            written = write_lists(report, options["lists"])
            self.stdout.write(f"{len(written)} lists written to {options['lists']}")

    def _table(self, report: ReplayReport) -> None:
        facts = report.facts
        self.stdout.write(
            f"Cut {report.cut:%Y-%m-%d %H:%M:%S} UTC: {facts['n_scored_shoppers']:,} of "
            f"{facts['n_eligible_shoppers']:,} shoppers scored, {facts['n_test_pairs']:,} test "
            f"pairs ({facts.get('test_pairs_unservable_at_cut', 0):.1%} on products not on "
            f"sale at the cut); auto serves {facts['auto_serves']}; "
            f"baseline {facts['ease']['model']} "
            f"{facts['ease'].get('regularization', '')}"
        )
        header = f"{'list':<32} {'target':<10} {'n':>6} " + " ".join(f"{c:>11}" for c in COLUMNS)
        self.stdout.write(header + "   vs popularity [95% CI]     vs EASE [95% CI]")
        for score in report.scores:
            m = score.metrics
            cells = " ".join(f"{m[c]:>11.4f}" if c in m else f"{'':>11}" for c in COLUMNS)
            if "recall@page" in m:
                cells = f"recall {m['recall@page']:.4f} hr {m['hr@page']:.4f}"
            line = f"{score.name:<32} {score.target:<10} {m['n_shoppers']:>6} {cells}"
            for ratio in (score.vs_popularity, score.vs_ease):
                if ratio is not None:
                    line += f"   {ratio['ratio']:.3f} [{ratio['low']:.3f}, {ratio['high']:.3f}]"
            for label, ratio in (
                ("own most frequent", score.vs_own_most_frequent),
                ("servable", score.vs_servable_own_most_frequent),
            ):
                if ratio is not None:
                    low, high = ratio["low"], ratio["high"]
                    line += f"   vs {label} {ratio['ratio']:.3f} [{low:.3f}, {high:.3f}]"
            self.stdout.write(line)
        tuning = facts.get("buy_again_tuning", {})
        if "chosen" in tuning:
            self.stdout.write(
                f"buy_again: served half-life {facts['buy_again_half_life_days']:g} days; "
                f"validation ({tuning['validation_users']:,} shoppers before the cut) chose "
                f"{tuning['chosen']}"
            )
        model = facts.get("buy_again_model", {})
        self.stdout.write(
            f"buy_again model: {model.get('note', 'not trained')}"
            + (f"; chose {model['chosen']}" if "chosen" in model else "")
            + (
                f" (validation NDCG {model['validation_ndcg']:.4f} vs own most frequent "
                f"{model['own_most_frequent_validation_ndcg']:.4f})"
                if "validation_ndcg" in model
                else ""
            )
        )


def _cut(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--cut: {text!r} is not an ISO time (2011-11-16T08:28).") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
