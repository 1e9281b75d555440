"""The A/B statistics on plain numbers: assignment, the sample-ratio check, and the decision's
error rate and power over many seeded simulated experiments (Bernoulli shoppers, drawn per
variant as binomial counts)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from placements.experiments.stats import (
    NO_DIFFERENCE,
    WINNER,
    Sums,
    assign,
    compare_means,
    compare_rates,
    decide,
    planned_sample_for_mean,
    planned_sample_for_rate,
    sample_ratio_check,
)

ALPHA, POWER, BASELINE, LIFT = 0.05, 0.8, 0.10, 0.05
RUNS = 2000


def test_a_shopper_always_lands_in_the_same_variant():
    first = [assign(salt="exp-1", shopper=f"s-{n}", weights=[50, 50]) for n in range(500)]

    again = [assign(salt="exp-1", shopper=f"s-{n}", weights=[50, 50]) for n in range(500)]

    assert first == again
    assert set(first) == {0, 1}


def test_different_salts_split_the_same_shoppers_differently():
    shoppers = [f"s-{n}" for n in range(2000)]

    one = [assign(salt="exp-1", shopper=s, weights=[50, 50]) for s in shoppers]
    other = [assign(salt="exp-2", shopper=s, weights=[50, 50]) for s in shoppers]

    # Independent splits agree on about half the shoppers, not all (nor none).
    agree = sum(a == b for a, b in zip(one, other, strict=True)) / len(shoppers)
    assert 0.45 < agree < 0.55


@pytest.mark.parametrize("weights", [[50, 50], [10, 30, 60], [34, 33, 33]])
def test_the_split_matches_the_weights_over_many_shoppers(weights):
    n = 60_000

    counts = Counter(assign(salt="split", shopper=f"u{i}", weights=weights) for i in range(n))

    for index, weight in enumerate(weights):
        share = weight / sum(weights)
        # Four standard errors of a binomial share: fails by chance about once in 16,000 runs.
        tolerance = 4 * (share * (1 - share) / n) ** 0.5
        assert abs(counts[index] / n - share) < tolerance


def test_the_sample_ratio_check_flags_a_skewed_split_and_not_a_fair_one():
    fair = [assign(salt="srm", shopper=f"u{i}", weights=[50, 50]) for i in range(20_000)]
    counts = [fair.count(0), fair.count(1)]

    assert not sample_ratio_check(exposures=counts, weights=[50, 50]).flagged
    # 10,400 against 9,600 on a planned 50/50: a 52/48 split is not chance at this size.
    assert sample_ratio_check(exposures=[10_400, 9_600], weights=[50, 50]).flagged
    assert not sample_ratio_check(exposures=[10_400, 9_600], weights=[52, 48]).flagged


def test_the_planned_sample_grows_as_the_effect_shrinks():
    five = planned_sample_for_rate(baseline=BASELINE, lift=0.05, alpha=ALPHA, power=POWER)
    ten = planned_sample_for_rate(baseline=BASELINE, lift=0.10, alpha=ALPHA, power=POWER)

    # Sample size goes as 1 / effect^2: half the lift, about four times the shoppers.
    assert 3.6 < five / ten < 4.4
    assert 55_000 < five < 60_000  # (z_0.975 + z_0.8)^2 2p(1-p) / (p * lift)^2 = 56,500
    assert planned_sample_for_mean(cv=5, lift=0.05, alpha=ALPHA, power=POWER) > 60_000


def test_no_winner_is_called_before_the_planned_sample():
    comparison = compare_rates(control=(100, 1000), challenger=(200, 1000))

    verdict = decide([comparison], exposures=[1000, 1000], planned=5000, alpha=ALPHA)

    assert comparison.significant(ALPHA)
    assert verdict.outcome == "keep_running"


def _simulated_winners(*, rate_b: float, seed: int) -> tuple[int, int]:
    """How many of RUNS seeded experiments (control at BASELINE, challenger at ``rate_b``, each
    at its planned sample) called the challenger, and how many called any winner."""
    n = planned_sample_for_rate(baseline=BASELINE, lift=LIFT, alpha=ALPHA, power=POWER)
    rng = np.random.default_rng(seed)
    controls = rng.binomial(n, BASELINE, size=RUNS)
    challengers = rng.binomial(n, rate_b, size=RUNS)
    challenger_won = any_won = 0
    for x0, x1 in zip(controls, challengers, strict=True):
        comparison = compare_rates(control=(int(x0), n), challenger=(int(x1), n), alpha=ALPHA)
        verdict = decide([comparison], exposures=[n, n], planned=n, alpha=ALPHA)
        any_won += verdict.outcome == WINNER
        challenger_won += verdict.outcome == WINNER and verdict.index == 1
    return challenger_won, any_won


def test_identical_variants_call_a_winner_no_more_often_than_alpha():
    _challenger, any_won = _simulated_winners(rate_b=BASELINE, seed=16)

    low, _high = proportion_confint(any_won, RUNS, alpha=0.05, method="beta")
    assert low <= ALPHA, f"{any_won}/{RUNS} identical pairs called a winner"
    assert any_won > 0  # the test can fail: the decision is not simply always "no difference"


def test_a_planted_five_percent_lift_is_found_at_the_stated_power():
    found, _any = _simulated_winners(rate_b=BASELINE * (1 + LIFT), seed=17)

    low, high = proportion_confint(found, RUNS, alpha=0.05, method="beta")
    assert low <= POWER <= high, f"found {found}/{RUNS}, interval [{low:.3f}, {high:.3f}]"


def test_revenue_per_shopper_intervals_cover_the_true_difference_at_their_level():
    rng = np.random.default_rng(5)
    covered = 0
    runs, n = 400, 4000
    for _ in range(runs):
        # Most shoppers buy nothing; buyers spend a skewed amount (lognormal), mean 0.1 x 50.
        a = rng.binomial(1, 0.1, n) * rng.lognormal(np.log(50) - 0.5, 1.0, n)
        b = rng.binomial(1, 0.1, n) * rng.lognormal(np.log(55) - 0.5, 1.0, n)
        c = compare_means(
            control=Sums(n, float(a.sum()), float((a**2).sum())),
            challenger=Sums(n, float(b.sum()), float((b**2).sum())),
        )
        covered += c.low <= 0.1 * 55 - 0.1 * 50 <= c.high
    low, high = proportion_confint(covered, runs, alpha=0.05, method="beta")
    assert low <= 0.95 <= high


def test_equal_rates_give_no_difference_and_a_p_value_of_one():
    comparison = compare_rates(control=(0, 500), challenger=(0, 500))

    verdict = decide([comparison], exposures=[500, 500], planned=500, alpha=ALPHA)

    assert comparison.p_value == 1.0
    assert verdict.outcome == NO_DIFFERENCE
