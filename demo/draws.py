"""What every shop planner shares: the history window's clock and the one-at-a-time draws its
hot loops are written with (plain Python floats: numpy scalar calls cost ~1 µs each)."""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress

import numpy as np

from demo.rows import EventColumns, ProductRow

HISTORY_DAYS = 90
# Weekly shape (Mon..Sun) and daily shape (hour 0..23) of traffic: lunch and evening peaks,
# a busy Sunday evening, a quiet Friday night; this is what shop analytics usually show.
WEEKDAY_WEIGHT = np.array([1.0, 0.95, 0.95, 1.0, 0.9, 1.1, 1.3])
HOUR_WEIGHT = np.array(
    [0.2, 0.1, 0.07, 0.05, 0.05, 0.1, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1,
     1.4, 1.3, 1.0, 0.95, 1.0, 1.1, 1.3, 1.6, 1.8, 1.7, 1.2, 0.6]
)  # fmt: skip
RATING_P = np.array([0.05, 0.07, 0.15, 0.33, 0.40])


@dataclass
class Calendar:
    """The history window's clock: event times are seconds since ``start``, turned into
    datetimes at the end; the cdfs are fresh lists a planner may change (its hot loop sets
    their last entry to +inf)."""

    start: datetime
    horizon: float
    launched: list[float]  # each product's launch, seconds since ``start``
    day_cdf: list[float]
    hour_cdf: list[float]
    rating_cdf: list[float]


def history_calendar(*, now: datetime, products: list[ProductRow], growth: bool) -> Calendar:
    """The clock of a shop's HISTORY_DAYS up to ``now``: weekday and hour rhythms, product
    launches, ratings; with ``growth`` the shop's traffic grows over the quarter."""
    start = (now - timedelta(days=HISTORY_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    day_weight = [
        WEEKDAY_WEIGHT[(start + timedelta(days=d)).weekday()] for d in range(HISTORY_DAYS + 1)
    ]
    if growth:
        day_weight = [w * (0.8 + 0.4 * d / HISTORY_DAYS) for d, w in enumerate(day_weight)]
    return Calendar(
        start=start,
        horizon=(now - start).total_seconds(),
        launched=[
            (now - timedelta(days=p.launched_days_ago) - start).total_seconds() for p in products
        ],
        day_cdf=(np.cumsum(day_weight) / np.sum(day_weight)).tolist(),
        hour_cdf=(np.cumsum(HOUR_WEIGHT) / HOUR_WEIGHT.sum()).tolist(),
        rating_cdf=np.cumsum(RATING_P).tolist(),
    )


def uniforms(rng: np.random.Generator):
    """Uniform draws one at a time, fetched from numpy in blocks (scalar calls cost ~1 µs each)."""
    while True:
        yield from rng.random(1 << 16).tolist()


def pick(cdf: list[float], x: float) -> int:
    """The index whose cumulative-probability bucket holds ``x``."""
    return min(bisect_right(cdf, x), len(cdf) - 1)


def weighted_pools(weight: np.ndarray, groups: list[int]) -> list[tuple[list[int], list[float]]]:
    """Per group: its member indices and the cumulative popularity to draw them with."""
    groups_arr = np.asarray(groups)
    pools = []
    for g in range(int(groups_arr.max()) + 1):
        members = np.flatnonzero(groups_arr == g)
        cdf = np.cumsum(weight[members])
        pools.append((members.tolist(), (cdf / cdf[-1]).tolist() if len(members) else []))
    return pools


def draw(pool: tuple[list[int], list[float]], x: float) -> int:
    members, cdf = pool
    return members[pick(cdf, x)] if members else -1


def geometric(p: float, x: float) -> int:
    """Inverse-CDF draw of a geometric variable on 1, 2, …"""
    return 1 + int(math.log(1.0 - x) / math.log(1.0 - p))


def tick(t: float, x: float) -> float:
    """The next click in a session comes 20 s to 4 min after the last."""
    return t + 20.0 + 220.0 * x


def quantity(x: float) -> float:
    """Mostly one unit, sometimes a few."""
    return float(min(5, geometric(0.7, x)))


def to_datetimes(events: EventColumns, *, start: datetime, horizon: float) -> None:
    """Drop what fell past ``now`` (a session can run over it) and turn seconds into datetimes."""
    seconds = events.occurred_at
    if any(t >= horizon for t in seconds):  # a few sessions at most: filter only then
        keep = [t < horizon for t in seconds]
        for name in EventColumns.__dataclass_fields__:
            setattr(events, name, list(compress(getattr(events, name), keep)))
    delta = timedelta
    events.occurred_at = [start + delta(seconds=round(t, 3)) for t in events.occurred_at]
