"""The repeat-purchase scorer: TIFU-KNN's time-decayed personal frequency and its neighbours."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.repeat import DAY, decayed_frequency, repeat_recommend, repeat_scores

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
