"""A/B power and error tables: the traffic simulator's click model and the experiments' stats.

No database, no HTTP: the simulator's pure model (``demo.traffic``) gives the true share of
exposed shoppers who click in each variant, and many seeded experiments at the planned
sample run through the same comparison and decision the results page uses
(``placements.experiments.stats``)::

    .venv/bin/python -m bench.ab_power [--runs 2000] [--seed 7] [--k 10] [--taste-share 0.5]

**The shopper's rate.** A test's unit is the shopper (``stats``): its CTR is the share of
exposed shoppers who clicked at least once. Under the simulator each shopper comes on each of
``days`` days with probability ``visits_per_day``, sees ``k`` items per visit, each in their
taste with probability ``taste_share`` (independently), and clicks the item at position i
with ``demo.traffic.click_probability``. So a visit passes without a click with probability
q = prod_i (1 - E[P(click at i)]), and an exposed shopper (at least one visit) clicks with
probability 1 - E[q^V | V >= 1], V ~ Binomial(days, visits_per_day): computed exactly, then
checked against ``demo.traffic.react`` on simulated shoppers. Shoppers are independent draws,
so a variant's clickers at the planned sample n are exactly Binomial(n, that rate).

**The tables.** Per horizon (one visit; a week of visits) and scenario: identical variants
(the share of runs calling any winner: the false-winner rate, against alpha), a planted lift
of 5 % on the simulator's clicks (``lift=1.05``), and the click lift that makes the shopper
rate 5 % higher (the effect the test is planned for); the share of runs calling B the winner,
against the stated power, each with its 95 % Clopper-Pearson interval.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import replace

import numpy as np
from scipy.stats import binom
from statsmodels.stats.proportion import proportion_confint

from demo.traffic import DEFAULT_MODEL, ShopperModel, click_probability, react
from placements.experiments.stats import WINNER, compare_rates, decide, planned_sample_for_rate

ALPHA, POWER, MDE = 0.05, 0.8, 0.05
CHECK_SHOPPERS = 20_000


def shopper_click_rate(*, model: ShopperModel, days: int, k: int, taste: float, lift: float):
    """P(an exposed shopper clicks at least once) under the simulator's click model."""
    q = 1.0
    for position in range(1, k + 1):
        p = taste * click_probability(match=1, position=position, lift=lift, model=model)
        p += (1 - taste) * click_probability(match=0, position=position, lift=lift, model=model)
        q *= 1 - p
    visits = np.arange(1, days + 1)
    weights = binom.pmf(visits, days, model.visits_per_day)
    return 1.0 - float((weights * q**visits).sum() / weights.sum())


def simulated_click_rate(*, model, days, k, taste, lift, seed, shoppers=CHECK_SHOPPERS) -> float:
    """The same rate counted on ``shoppers`` simulated exposed shoppers with ``react``."""
    rng = random.Random(seed)
    clicked = exposed = 0
    skus = [str(i) for i in range(k)]
    while exposed < shoppers:
        visits = sum(rng.random() < model.visits_per_day for _ in range(days))
        if not visits:
            continue
        exposed += 1
        clicked += any(
            o.clicked
            for _ in range(visits)
            for o in react(
                skus=skus,
                matches=[float(rng.random() < taste) for _ in skus],
                rng=rng,
                lift=lift,
                model=model,
            )
        )
    return clicked / exposed


def lift_for_shopper_effect(*, effect: float, **rate_args) -> float:
    """The click multiplier that raises the shopper rate by ``effect`` (relative), by bisection."""
    target = shopper_click_rate(lift=1.0, **rate_args) * (1 + effect)
    low, high = 1.0, 3.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (
            (middle, high)
            if shopper_click_rate(lift=middle, **rate_args) < target
            else (low, middle)
        )
    return (low + high) / 2


def winners(*, rate_a: float, rate_b: float, n: int, runs: int, seed: int) -> tuple[int, int]:
    """Runs (of ``runs`` seeded experiments at n shoppers per variant) calling B, calling any."""
    rng = np.random.default_rng(seed)
    called_b = called_any = 0
    for x0, x1 in zip(rng.binomial(n, rate_a, runs), rng.binomial(n, rate_b, runs), strict=True):
        comparison = compare_rates(control=(int(x0), n), challenger=(int(x1), n), alpha=ALPHA)
        verdict = decide([comparison], exposures=[n, n], planned=n, alpha=ALPHA)
        called_any += verdict.outcome == WINNER
        called_b += verdict.outcome == WINNER and verdict.index == 1
    return called_b, called_any


def _share(count: int, runs: int) -> str:
    low, high = proportion_confint(count, runs, alpha=0.05, method="beta")
    return f"{count / runs:.3f} [{low:.3f}, {high:.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000, help="Seeded experiments per row.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--k", type=int, default=10, help="Items per response (default 10).")
    parser.add_argument(
        "--taste-share", type=float, default=0.5, help="Share of shown items in the taste."
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.k < 1 or not 0 <= args.taste_share <= 1:
        parser.error("--runs and --k must be positive, --taste-share within [0, 1]")
    began = time.monotonic()
    print(
        f"alpha {ALPHA}, power {POWER}, planned for +{MDE:.0%} on the shopper CTR; "
        f"{args.runs:,} seeded runs per row; k={args.k}, taste share {args.taste_share}"
    )
    print()
    print("| horizon | shopper CTR A (react check) | scenario | click lift | shopper CTR lift "
          "| n per variant | B called winner | any winner called |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    horizons = (
        ("one visit", replace(DEFAULT_MODEL, visits_per_day=1.0), 1),
        ("a week", DEFAULT_MODEL, 7),
    )
    for row, (label, model, days) in enumerate(horizons):
        rate_args = {"model": model, "days": days, "k": args.k, "taste": args.taste_share}
        rate_a = shopper_click_rate(lift=1.0, **rate_args)
        checked = simulated_click_rate(lift=1.0, seed=args.seed + row, **rate_args)
        n = planned_sample_for_rate(baseline=rate_a, lift=MDE, alpha=ALPHA, power=POWER)
        scenarios = (
            ("identical", 1.0),
            ("+5 % clicks", 1.0 + MDE),
            ("+5 % shopper CTR", lift_for_shopper_effect(effect=MDE, **rate_args)),
        )
        for number, (scenario, lift) in enumerate(scenarios):
            rate_b = shopper_click_rate(lift=lift, **rate_args)
            seed = args.seed * 1000 + row * 10 + number
            called_b, called_any = winners(
                rate_a=rate_a, rate_b=rate_b, n=n, runs=args.runs, seed=seed
            )
            print(
                f"| {label} | {rate_a:.4f} ({checked:.4f}) | {scenario} | x{lift:.4f} "
                f"| {rate_b / rate_a - 1:+.2%} | {n:,} | {_share(called_b, args.runs)} "
                f"| {_share(called_any, args.runs)} |"
            )
    print()
    print(f"{time.monotonic() - began:.0f} s; intervals: 95 % Clopper-Pearson over the runs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
