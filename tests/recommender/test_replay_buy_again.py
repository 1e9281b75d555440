"""The replay's buy-again baseline (own most frequent, then popularity) and the repeat scorer's
validation, on hand-made purchases (numbers only, no database)."""

from __future__ import annotations

import numpy as np

from recommender.replay.baselines import (
    Purchases,
    own_most_frequent,
    repeat_scorer,
    tune_repeat,
)
from recommender.replay.protocol import global_split

DAY = 86400.0


def _purchases(rows: list[tuple[int, int, float]], shape=(3, 5)) -> Purchases:
    users, items, days = (np.array(column) for column in zip(*rows, strict=True))
    return Purchases(users, items, days * DAY, shape)


def test_the_baseline_lists_own_most_frequent_then_popular_items():
    # Before day 10: user 0 bought item 3 twice and item 1 once; item 2 is the most popular.
    purchases = _purchases(
        [(0, 3, 1), (0, 3, 2), (0, 1, 3), (1, 2, 1), (2, 2, 2), (1, 4, 3), (0, 0, 11), (1, 0, 11)]
    )
    split = global_split(
        purchases.users, purchases.items, purchases.times, n_users=3, n_items=5, cut=10 * DAY
    )

    baseline = own_most_frequent(split, purchases, np.array([0, 1]), k=4)

    assert baseline.recs.tolist() == [[3, 1, 2, 4], [2, 4, 1, 3]]


def test_repeat_counts_include_every_purchase_not_only_the_first():
    purchases = _purchases([(0, 1, 1), (0, 1, 2), (0, 1, 3), (0, 2, 4)])

    counts = purchases.counts(before=3.5 * DAY)

    assert counts.toarray()[0].tolist() == [0, 3, 0, 0, 0]


def test_the_half_life_is_chosen_on_the_window_before_the_cut():
    # Shoppers rebuy what they bought last, not their old favourite: in validation (days
    # 90-100) and in test alike, so a short half-life must win on validation alone.
    rows = []
    for user in range(3):
        rows += [(user, 0, day) for day in (1, 2, 3, 4)]  # the old favourite
        rows += [(user, 1 + user % 2, 85), (user, 1 + user % 2, 95)]
        rows += [(user, 3, 95), (user, 3, 105), (user, 4, 106)]
    purchases = _purchases(rows)
    split = global_split(
        purchases.users, purchases.items, purchases.times, n_users=3, n_items=5, cut=100 * DAY
    )

    tuning = tune_repeat(split, purchases, k=1)
    served = repeat_scorer(split, purchases, np.arange(3), k=1, chosen=tuning["chosen"])

    assert tuning["validation_cut"] < split.cut
    assert tuning["chosen"]["half_life_days"] < 365
    assert served.params == tuning["chosen"] and (served.recs >= 0).all()


def test_the_servable_baseline_lists_only_what_the_catalog_serves():
    # As above; item 3 (user 0's favourite) and item 2 (the best-seller) are unavailable now.
    purchases = _purchases(
        [(0, 3, 1), (0, 3, 2), (0, 1, 3), (1, 2, 1), (2, 2, 2), (1, 4, 3), (0, 0, 11), (1, 0, 11)]
    )
    split = global_split(
        purchases.users, purchases.items, purchases.times, n_users=3, n_items=5, cut=10 * DAY
    )
    servable = np.array([True, True, False, False, True])

    baseline = own_most_frequent(split, purchases, np.array([0, 1]), k=4, servable=servable)

    assert baseline.recs.tolist() == [[1, 4, 0, -1], [4, 1, 0, -1]]
