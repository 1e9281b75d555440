"""The statistics of an A/B test, on plain numbers: no Django, no ORM (a contract checks it).

Fixed horizon: a test plans its sample per variant up front (minimum detectable effect, alpha,
power) and calls no winner before every variant reached it; peeking before then is allowed for
watching guardrails and the sample-ratio check, never for deciding. Each variant is compared
with the control; with several challengers alpha is split between them (Bonferroni).

The unit is the shopper, as assignment is: rates are shares of exposed shoppers (who clicked,
who bought), revenue is per exposed shopper, so one keen shopper's many clicks cannot pass for
independent evidence.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import chisquare, norm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

SRM_P_VALUE = 0.001  # below this the split is flagged: the usual threshold for SRM alarms
_BUCKETS = 2**64


def assign(*, salt: str, shopper: str, weights: Sequence[int]) -> int:
    """The index of the variant ``shopper`` gets: a stable hash of (salt, shopper) placed on the
    cumulative ``weights``. The same pair always lands in the same variant, in every process
    and session; another salt splits the same shoppers independently."""
    if not weights or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    digest = hashlib.sha256(f"{salt}\x1f{shopper}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / _BUCKETS * sum(weights)
    running = 0
    for index, weight in enumerate(weights):
        running += weight
        if point < running:
            return index
    return len(weights) - 1  # float rounding at the very top of the range


def planned_sample_for_rate(*, baseline: float, lift: float, alpha: float, power: float) -> int:
    """Shoppers per variant to detect a relative ``lift`` on a rate of ``baseline`` with a
    two-sided two-proportion test (Cohen's h, statsmodels' normal power)."""
    if not 0 < baseline < 1 or not 0 < baseline * (1 + lift) < 1 or lift == 0:
        raise ValueError("baseline and baseline x (1 + lift) must be rates strictly in (0, 1)")
    effect = proportion_effectsize(baseline * (1 + lift), baseline)
    n = NormalIndPower().solve_power(effect_size=abs(effect), alpha=alpha, power=power, ratio=1)
    return math.ceil(n)


def planned_sample_for_mean(*, cv: float, lift: float, alpha: float, power: float) -> int:
    """Shoppers per variant to detect a relative ``lift`` on a mean whose standard deviation is
    ``cv`` times the mean (revenue per shopper: mostly zeros, so cv is large, often 3 to 10)."""
    if cv <= 0 or lift == 0:
        raise ValueError("cv must be positive and lift non-zero")
    n = NormalIndPower().solve_power(effect_size=abs(lift) / cv, alpha=alpha, power=power, ratio=1)
    return math.ceil(n)


@dataclass(frozen=True)
class Comparison:
    """A challenger against the control: difference (challenger - control), its interval at
    ``1 - alpha``, the two-sided p-value, and the relative lift."""

    control: float
    challenger: float
    difference: float
    low: float
    high: float
    p_value: float
    lift: float | None

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha


def compare_rates(
    *, control: tuple[int, int], challenger: tuple[int, int], alpha: float = 0.05
) -> Comparison | None:
    """Two-proportion z-test on (successes, shoppers) pairs, with the Wald interval of the
    difference; None while either side has no shopper or the rates are degenerate."""
    (x0, n0), (x1, n1) = control, challenger
    if n0 == 0 or n1 == 0:
        return None
    p0, p1 = x0 / n0, x1 / n1
    if x0 + x1 in (0, n0 + n1):  # both all-zero or all-one: no variance to test with
        return Comparison(p0, p1, p1 - p0, p1 - p0, p1 - p0, 1.0, _lift(p1, p0))
    _z, p_value = proportions_ztest([x1, x0], [n1, n0])
    low, high = confint_proportions_2indep(
        x1, n1, x0, n0, method="wald", compare="diff", alpha=alpha
    )
    return Comparison(p0, p1, p1 - p0, float(low), float(high), float(p_value), _lift(p1, p0))


@dataclass(frozen=True)
class Sums:
    """A per-shopper quantity summed over a variant's shoppers: count, sum and sum of squares
    (enough for the mean and its variance without keeping every shopper)."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.n < 2:
            return 0.0
        return max(0.0, (self.squares - self.total**2 / self.n) / (self.n - 1))


def compare_means(*, control: Sums, challenger: Sums, alpha: float = 0.05) -> Comparison | None:
    """Difference of two means (revenue per shopper) with its normal interval: the delta
    method for a difference of independent means, i.e. Welch's standard error, which holds at
    the sample sizes a test plans for; None while either side has fewer than two shoppers."""
    if control.n < 2 or challenger.n < 2:
        return None
    difference = challenger.mean - control.mean
    se = math.sqrt(control.variance / control.n + challenger.variance / challenger.n)
    if se == 0:
        return Comparison(
            control.mean, challenger.mean, difference, difference, difference, 1.0,
            _lift(challenger.mean, control.mean),
        )  # fmt: skip
    z = difference / se
    half = norm.ppf(1 - alpha / 2) * se
    p_value = float(2 * norm.sf(abs(z)))
    return Comparison(
        control.mean, challenger.mean, difference, difference - half, difference + half,
        p_value, _lift(challenger.mean, control.mean),
    )  # fmt: skip


def _lift(value: float, base: float) -> float | None:
    return value / base - 1 if base else None


@dataclass(frozen=True)
class RatioCheck:
    """The sample-ratio-mismatch check: exposures against the planned weights."""

    p_value: float
    flagged: bool


def sample_ratio_check(*, exposures: Sequence[int], weights: Sequence[int]) -> RatioCheck | None:
    """Chi-square of the exposures per variant against the shares the weights plan; flagged
    below p = 0.001 (a bug in assignment or logging, not chance). None before any exposure."""
    total = sum(exposures)
    if total == 0:
        return None
    expected = [total * w / sum(weights) for w in weights]
    _stat, p_value = chisquare(list(exposures), f_exp=expected)
    return RatioCheck(p_value=float(p_value), flagged=bool(p_value < SRM_P_VALUE))


KEEP_RUNNING = "keep_running"
WINNER = "winner"
NO_DIFFERENCE = "no_difference"


@dataclass(frozen=True)
class Verdict:
    """What a test says on its primary metric: ``KEEP_RUNNING`` before the planned sample,
    then ``WINNER`` (``index`` of the variant, 0 = the control) or ``NO_DIFFERENCE``."""

    outcome: str
    index: int | None = None


def decide(
    comparisons: Sequence[Comparison | None],
    *,
    exposures: Sequence[int],
    planned: int,
    alpha: float,
) -> Verdict:
    """The fixed-horizon decision. ``comparisons[i]`` is variant i+1 against the control
    (variant 0), ``exposures`` every variant's shoppers.

    Until every variant reached ``planned`` shoppers: keep running. Then the winner is the
    challenger with the largest difference among those significantly better than the control
    (alpha split between the challengers); the control wins when every challenger is
    significantly worse; otherwise no difference was found."""
    if not exposures or min(exposures) < planned:
        return Verdict(KEEP_RUNNING)
    per_test = alpha / max(1, len(comparisons))
    tested = [c for c in comparisons if c is not None]
    better = [
        (c.difference, i + 1)
        for i, c in enumerate(comparisons)
        if c is not None and c.significant(per_test) and c.difference > 0
    ]
    if better:
        return Verdict(WINNER, max(better)[1])
    all_worse = all(c.significant(per_test) and c.difference < 0 for c in tested)
    if tested and len(tested) == len(comparisons) and all_worse:
        return Verdict(WINNER, 0)
    return Verdict(NO_DIFFERENCE)
