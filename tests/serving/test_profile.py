"""A shopper's live profile weighs events exactly as training weighs them into the matrix."""

from __future__ import annotations

import numpy as np
import pytest

from behavior.selectors import RecentEvent
from recommender.core.matrix import build_interaction_matrix
from recommender.serving.realtime import shopper_profile

HOUR = 3600.0
WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0, "rating": 2.0, "search": 0.5}


class Catalog:
    """The one thing a profile asks of a catalog snapshot: product pk → catalog row."""

    pks = np.array([10, 20, 30, 40], dtype=np.int64)

    def rows_of(self, pks: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(self.pks, pks)
        rows[rows >= self.pks.size] = 0
        return np.where(self.pks[rows] == pks, rows, -1)


EVENTS = [  # newest first, as behavior hands them over
    RecentEvent(product_id=20, kind="view", value=None, occurred_at=100 * HOUR),
    RecentEvent(product_id=None, kind="search", value=None, occurred_at=99 * HOUR, query="Mug"),
    RecentEvent(product_id=10, kind="purchase", value=4.0, occurred_at=90 * HOUR),
    RecentEvent(product_id=20, kind="add_to_cart", value=2.0, occurred_at=60 * HOUR),
    RecentEvent(product_id=30, kind="purchase", value=0.0, occurred_at=50 * HOUR),
    RecentEvent(product_id=99, kind="view", value=None, occurred_at=40 * HOUR),  # not sold now
    RecentEvent(product_id=10, kind="view", value=None, occurred_at=28 * HOUR),
]


@pytest.fixture(autouse=True)
def _weights(settings):
    settings.SHELFWISE_EVENT_WEIGHTS = WEIGHTS
    settings.SHELFWISE_VALUE_TRANSFORM = "log1p"
    settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS = 24.0


def test_weights_match_the_training_matrix_row_for_the_same_events():
    catalog = Catalog()
    sold = [e for e in EVENTS if e.product_id in catalog.pks]
    expected = build_interaction_matrix(
        np.zeros(len(sold), dtype=np.int64),
        catalog.rows_of(np.array([e.product_id for e in sold])),
        [e.kind for e in sold],
        [np.nan if e.value is None else e.value for e in sold],
        [e.occurred_at for e in sold],
        kind_weights=WEIGHTS,
        value_transform="log1p",
        half_life_days=1.0,
        now=100 * HOUR,
        n_users=1,
        n_items=len(catalog.pks),
    ).toarray()[0]

    profile = shopper_profile(events=EVENTS, catalog=catalog)

    got = np.zeros(len(catalog.pks))
    got[profile.rows] = profile.weights
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # A purchase of quantity 0 weighs nothing, as in training; strongest first.
    assert 2 not in profile.rows.tolist()
    assert profile.weights.tolist() == sorted(profile.weights.tolist(), reverse=True)


def test_each_row_keeps_its_strongest_kind_and_queries_are_kept_apart():
    profile = shopper_profile(events=EVENTS, catalog=Catalog())

    assert profile.kinds == {0: "purchase", 1: "add_to_cart", 2: "purchase"}
    # The search: kind weight 0.5 × log1p(no value = 1) × an hour's decay.
    assert profile.queries == [("Mug", pytest.approx(0.5 * np.log(2) * 2 ** (-1 / 24)))]


def test_no_events_is_an_empty_profile():
    profile = shopper_profile(events=[], catalog=Catalog())

    assert not profile and profile.rows.size == 0 and profile.queries == []


def test_a_model_tuned_on_damped_rows_is_served_damped_rows_at_its_own_half_life():
    """Serving builds the row the model was tuned on (``TrainingData.rows_with_half_life``):
    its half-life, each product's summed weight through log1p."""
    catalog = Catalog()
    plain = shopper_profile(events=EVENTS, catalog=catalog, half_life_hours=1e5)
    damped = shopper_profile(events=EVENTS, catalog=catalog, half_life_hours=1e5, log1p=True)

    assert damped.rows.tolist() == plain.rows.tolist()
    np.testing.assert_allclose(damped.weights, np.log1p(plain.weights), rtol=1e-6)
    # Almost no decay: the purchase of 4 and the view (no value: log1p(1)) count in full.
    assert plain.weights[plain.rows.tolist().index(0)] == pytest.approx(
        5 * np.log1p(4.0) + np.log1p(1.0), rel=1e-3
    )


def test_only_the_newest_scored_events_are_scored_but_every_product_read_counts_as_touched(
    settings,
):
    settings.SHELFWISE_SCORED_EVENTS = 3  # the view of 20, the search, the purchase of 10

    profile = shopper_profile(events=EVENTS, catalog=Catalog())

    assert sorted(profile.rows.tolist()) == [0, 1]  # products 10 and 20
    assert [query for query, _ in profile.queries] == ["Mug"]
    # 30's purchase and 10's older view are past the scored events, still touched; 99 is unsold.
    assert profile.touched.tolist() == [0, 1, 2]
    settings.SHELFWISE_SCORED_EVENTS = len(EVENTS)
    everything = shopper_profile(events=EVENTS, catalog=Catalog())
    weight_of_10 = [
        dict(zip(p.rows.tolist(), p.weights.tolist(), strict=True))[0]
        for p in (profile, everything)
    ]
    assert weight_of_10[0] < weight_of_10[1]  # 10's older view adds weight once scored
    assert everything.touched.tolist() == [0, 1, 2]
