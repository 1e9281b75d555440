"""The repeat-purchase scorer: TIFU-KNN's time-decayed personal frequency and its neighbours."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.repeat import (
    DAY,
    Purchases,
    RepeatModel,
    decayed_frequency,
    repeat_recommend,
    repeat_scores,
)

NOW = 1_000 * DAY


def _history(half_life_days: float) -> sp.csr_matrix:
    # Shopper 0 bought item 0 five times 200 days ago and item 1 once yesterday.
    users = np.array([0, 0, 0, 0, 0, 0])
    items = np.array([0, 0, 0, 0, 0, 1])
    times = np.array([NOW - 200 * DAY] * 5 + [NOW - DAY])
    return decayed_frequency(
        users, items, times, now=NOW, half_life_days=half_life_days, shape=(1, 3)
    )


def test_a_recent_purchase_beats_an_old_frequent_one_when_the_half_life_is_short():
    history = _history(half_life_days=7)

    ids, _ = repeat_recommend(history, np.array([0]), n=3)

    assert ids.tolist() == [[1, 0, -1]]


def test_frequency_wins_when_the_half_life_is_long():
    history = _history(half_life_days=3650)

    ids, _ = repeat_recommend(history, np.array([0]), n=3)

    assert ids.tolist() == [[0, 1, -1]]


def test_each_purchase_counts_two_to_the_minus_its_age_in_half_lives():
    history = decayed_frequency(
        np.array([0, 0, 0]),
        np.array([0, 0, 1]),
        np.array([NOW - 10 * DAY, NOW, NOW + DAY]),  # the last is after now: not counted
        now=NOW + 1,
        half_life_days=10,
        shape=(1, 2),
    )

    assert history.toarray()[0].tolist() == pytest.approx([1.5, 0.0], abs=1e-4)


def test_the_neighbour_part_adds_what_similar_shoppers_bought():
    # Shoppers 0 and 1 share item 0; shopper 1 also bought item 2; shopper 2 only item 3.
    history = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], np.float32))

    own = repeat_scores(history, np.array([0]))
    blended = repeat_scores(history, np.array([0]), alpha=0.5, neighbours=1)
    ids, _ = repeat_recommend(
        history, np.array([0]), n=3, alpha=0.5, neighbours=1, repeat_only=False
    )

    assert own[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert blended[0].tolist() == pytest.approx([0.75, 0.0, 0.25, 0.0])
    assert ids.tolist() == [[0, 2, -1]]


def test_repeat_only_lists_nothing_the_shopper_never_bought():
    history = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 1]], np.float32))

    ids, _ = repeat_recommend(history, np.array([0]), n=3, alpha=0.5, neighbours=1)

    assert ids.tolist() == [[0, -1, -1]]


def test_bad_parameters_are_refused():
    history = sp.csr_matrix((1, 2), dtype=np.float32)

    with pytest.raises(ValueError, match="alpha"):
        repeat_scores(history, np.array([0]), alpha=1.5)
    with pytest.raises(ValueError, match="half_life"):
        decayed_frequency([0], [0], [0.0], now=1.0, half_life_days=0, shape=(1, 2))


# -- the per-shop model (RepeatModel) ---------------------------------------------------------
def _weekly_shop() -> sp.csr_matrix:
    """Shopper 0 buys item 2 every week for a year and items 0, 1, 3 once each; others buy
    noise. Decayed at a 30-day half-life."""
    users, items, times = [], [], []
    for week in range(52):
        users.append(0), items.append(2), times.append(NOW - (week * 7 + 1) * DAY)
    for item in (0, 1, 3):
        users.append(0), items.append(item), times.append(NOW - 3 * DAY)
    rng = np.random.default_rng(0)
    for user in range(1, 20):
        for item in rng.choice(6, size=3, replace=False):
            users.append(user), items.append(int(item)), times.append(NOW - 10 * DAY)
    return decayed_frequency(
        np.array(users),
        np.array(items),
        np.array(times, float),
        now=NOW,
        half_life_days=30,
        shape=(20, 6),
    )


def test_a_planted_weekly_repeat_is_ranked_first():
    history = _weekly_shop()
    model = RepeatModel(half_life_days=30, alpha=0.5, neighbours=5).fit(history)

    ids, _ = model.recommend(history[[0]], n=3, users=np.array([0]))

    assert ids[0, 0] == 2


def test_recency_decay_orders_items_bought_equally_often():
    # Item 0 bought twice 100 days ago, item 1 twice 5 days ago: equal counts, newer first.
    history = decayed_frequency(
        np.zeros(4, int),
        np.array([0, 0, 1, 1]),
        np.array([NOW - 100 * DAY] * 2 + [NOW - 5 * DAY] * 2),
        now=NOW,
        half_life_days=30,
        shape=(1, 2),
    )
    model = RepeatModel(half_life_days=30, alpha=1.0, neighbours=0, popularity_weight=0).fit(
        history
    )

    ids, scores = model.recommend(history, n=2)

    assert ids.tolist() == [[1, 0]]
    assert scores[0, 0] > scores[0, 1]


def test_popularity_breaks_ties_between_items_bought_once():
    history = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]], np.float32))
    model = RepeatModel(alpha=1.0, neighbours=0, popularity_weight=0.01).fit(history)

    ids, _ = model.recommend(history[[0]], n=3)

    # Items 0 and 1 tie on shopper 0's history; item 1 has three buyers; item 2 only fills.
    assert ids.tolist() == [[1, 0, 2]]


def test_a_shopper_is_never_their_own_neighbour():
    # Shopper 0 is alone with item 0; shopper 1 is the only other, with item 1.
    history = sp.csr_matrix(np.array([[1, 0], [0, 1]], np.float32))
    model = RepeatModel(alpha=0.5, neighbours=1, popularity_weight=0).fit(history)

    scores = model.scores(history[[0]], users=np.array([0]))

    # Cosine 0 with shopper 1: no neighbour contributes, own half only.
    assert scores[0].tolist() == pytest.approx([0.5, 0.0])


@pytest.mark.parametrize("popularity_half_life", [None, 7.0])
def test_the_model_round_trips_through_an_npz_without_pickles(tmp_path, popularity_half_life):
    history = _weekly_shop()
    model = RepeatModel(
        half_life_days=30,
        alpha=0.3,
        neighbours=4,
        popularity_weight=0.05,
        popularity_half_life_days=popularity_half_life,
    )
    model.fit(history)

    model.save(tmp_path / "repeat.npz")
    loaded = RepeatModel.load(tmp_path / "repeat.npz")

    assert loaded.params == model.params
    assert loaded.params["popularity_half_life_days"] == popularity_half_life
    assert np.allclose(loaded.scores(history), model.scores(history))


def test_a_model_saved_before_the_popularity_half_life_loads_with_all_time_popularity(tmp_path):
    history = _weekly_shop()
    model = RepeatModel(half_life_days=30, alpha=0.3, neighbours=4, popularity_weight=0.05)
    model.fit(history)
    own = model.own
    # The four-parameter layout artifacts had before the popularity half-life was a parameter.
    np.savez(
        tmp_path / "old.npz",
        data=own.data,
        indices=own.indices,
        indptr=own.indptr,
        shape=np.array(own.shape),
        popularity=model.popularity,
        params=np.array([30.0, 0.3, 4, 0.05]),
    )

    loaded = RepeatModel.load(tmp_path / "old.npz")

    assert loaded.params == {**model.params, "popularity_half_life_days": None}
    assert np.allclose(loaded.scores(history), model.scores(history))


def _seasonal() -> Purchases:
    # Item 0: five purchases 200 days ago; item 1: two yesterday; item 2: one at NOW (not
    # before it, so never counted).
    items = np.array([0, 0, 0, 0, 0, 1, 1, 2])
    times = np.array([NOW - 200 * DAY] * 5 + [NOW - DAY] * 2 + [NOW])
    return Purchases(np.arange(items.size), items, times, (items.size, 3))


def test_all_time_popularity_counts_every_purchase_before_the_time():
    assert _seasonal().popularity(before=NOW).tolist() == [5.0, 2.0, 0.0]


def test_recent_popularity_ranks_what_sells_now_above_an_old_best_seller():
    popularity = _seasonal().popularity(before=NOW, half_life_days=7)

    # Each purchase counts 2^(-age / 7 days).
    expected = [5 * 2 ** (-200 / 7), 2 * 2 ** (-1 / 7), 0.0]
    assert popularity.tolist() == pytest.approx(expected)
    assert np.argmax(popularity) == 1


def test_the_popularity_the_model_is_fitted_with_orders_ties_and_fills_the_list():
    # One shopper bought items 0 and 1 once each; what sells now (item 1, then 2) goes first.
    history = sp.csr_matrix(np.array([[1, 1, 0, 0]], np.float32))
    recent = np.array([0.1, 3.0, 2.0, 0.0])
    model = RepeatModel(
        alpha=1.0, neighbours=0, popularity_weight=0.01, popularity_half_life_days=7
    )

    ids, _ = model.fit(history, popularity=recent).recommend(history, n=4)

    assert ids.tolist() == [[1, 0, 2, -1]]


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 1.5},
        {"neighbours": -1},
        {"half_life_days": 0},
        {"popularity_weight": -1},
        {"popularity_half_life_days": 0},
        {"popularity_half_life_days": -7},
    ],
)
def test_the_model_refuses_bad_parameters(params):
    with pytest.raises(ValueError):
        RepeatModel(**params)


def test_recommending_in_blocks_of_queries_is_the_same_as_at_once(monkeypatch):
    from recommender.core import repeat

    rng = np.random.default_rng(3)
    history = sp.random(50, 40, density=0.2, format="csr", random_state=rng) * 10
    model = RepeatModel(alpha=0.6, neighbours=5, popularity_weight=0.1).fit(history)
    users = np.arange(50)
    at_once = model.recommend(history, n=8, users=users)

    monkeypatch.setattr(repeat, "_QUERY_BLOCK", 7)  # 8 blocks, the last one short
    in_blocks = model.recommend(history, n=8, users=users)

    np.testing.assert_array_equal(in_blocks[0], at_once[0])
    np.testing.assert_array_equal(in_blocks[1], at_once[1])
    assert model.recommend(history[:0], n=8, users=users[:0])[0].shape == (0, 8)
