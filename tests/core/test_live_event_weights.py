"""Serving's event weights, shared with the training holdout's scoring rows."""

import numpy as np
import pytest

from recommender.core.live import latest_per_user, live_event_weights

HOUR = 3600.0
WEIGHTS = {"view": 1.0, "purchase": 8.0}


def test_each_shoppers_events_age_from_that_shoppers_newest_event():
    users = np.array([1, 1, 2, 2])
    times = np.array([0.0, 72 * HOUR, 1000 * HOUR, 1072 * HOUR])

    weights = live_event_weights(
        np.array(["view"] * 4),
        np.full(4, np.nan),
        times,
        kind_weights=WEIGHTS,
        value_transform="none",
        half_life_hours=72.0,
        users=users,
    )

    # Shopper 2's events are 1,000 hours later than shopper 1's: it changes nothing for them.
    np.testing.assert_allclose(weights, [0.5, 1.0, 0.5, 1.0])


def test_without_users_all_events_belong_to_one_shopper():
    weights = live_event_weights(
        np.array(["purchase", "view"]),
        np.array([np.e - 1.0, np.nan]),
        np.array([0.0, 24 * HOUR]),
        kind_weights=WEIGHTS,
        value_transform="log1p",
        half_life_hours=24.0,
    )

    # purchase: 8 × log1p(e − 1) × 2^-1; view: 1 × log1p(1) (no value counts 1) × 2^0.
    np.testing.assert_allclose(weights, [4.0, np.log(2.0)])


def test_kinds_without_a_weight_weigh_nothing():
    weights = live_event_weights(
        np.array(["wishlist", "view"]),
        np.ones(2),
        np.zeros(2),
        kind_weights=WEIGHTS,
        value_transform="none",
        half_life_hours=1.0,
    )

    np.testing.assert_array_equal(weights, [0.0, 1.0])


def test_it_refuses_a_half_life_that_is_not_positive():
    with pytest.raises(ValueError, match="half_life_hours"):
        live_event_weights(
            np.array(["view"]),
            np.ones(1),
            np.zeros(1),
            kind_weights=WEIGHTS,
            value_transform="none",
            half_life_hours=0.0,
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"times": np.array([0.0, np.nan])}, "times.*position 1"),
        ({"times": np.array([np.inf, 0.0])}, "times.*position 0"),
        ({"half_life_hours": float("nan")}, "half_life_hours"),
        ({"value_transform": "sqrt"}, "value_transform.*sqrt"),
        ({"kind_weights": {"view": float("nan")}}, "kind weight for 'view'"),
        ({"kind_weights": {"view": -1.0}}, "kind weight for 'view'"),
    ],
)
def test_it_refuses_input_that_would_turn_weights_into_nan(kwargs, message):
    arguments = {
        "times": np.zeros(2),
        "kind_weights": WEIGHTS,
        "value_transform": "none",
        "half_life_hours": 24.0,
    } | kwargs
    times = arguments.pop("times")

    with pytest.raises(ValueError, match=message):
        live_event_weights(np.array(["view", "view"]), np.ones(2), times, **arguments)


def test_latest_per_user_keeps_each_users_newest_events_in_input_order():
    users = np.array([1, 2, 1, 1, 2, 1])
    times = np.array([5.0, 1.0, 9.0, 7.0, 2.0, 9.0])

    kept = latest_per_user(users, times, 2)

    # User 1: its two events at time 9 (not the one at 7); user 2: both of its events.
    np.testing.assert_array_equal(kept, [1, 2, 4, 5])
