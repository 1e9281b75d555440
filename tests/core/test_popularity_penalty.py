"""The popularity penalty: a positive score divided by its item's shoppers to the power β."""

import numpy as np
import pytest

from recommender.core.rerank import discounted, popularity_discount


def test_an_exponent_of_zero_leaves_every_score_as_it_was():
    scores = np.array([[0.7, -0.2, 0.0, 3.5], [-np.inf, 1e-6, 2.0, 0.1]], dtype=np.float32)

    out = discounted(scores, popularity_discount(np.array([1, 40, 0, 9_000]), 0.0))

    assert np.array_equal(out, scores)


def test_each_positive_score_is_divided_by_its_shoppers_to_the_power_beta():
    support = np.array([1, 4, 100])

    out = discounted(np.ones(3, dtype=np.float32), popularity_discount(support, 0.5))

    assert out.tolist() == pytest.approx([1.0, 0.5, 0.1])


def test_a_popular_item_keeps_its_place_only_while_its_lead_exceeds_the_penalty():
    # The popular item (16 shoppers) scores twice the niche one (1 shopper): 16 ** 0.25 = 2.
    scores = np.array([2.0, 1.0], dtype=np.float32)
    support = np.array([16, 1])

    def order(beta: float) -> list[int]:
        return np.argsort(-discounted(scores, popularity_discount(support, beta))).tolist()

    assert order(0.2) == [0, 1]
    assert order(0.3) == [1, 0]


def test_zero_negative_and_excluded_scores_are_left_alone_and_unseen_items_count_as_one():
    scores = np.array([0.0, -0.5, -np.inf, 0.8], dtype=np.float32)

    out = discounted(scores, popularity_discount(np.array([50, 50, 50, 0]), 0.3))

    assert out[0] == 0.0 and out[1] == pytest.approx(-0.5) and out[2] == -np.inf
    assert out[3] == pytest.approx(0.8)  # no shopper: divided by 1, never pushed up


def test_every_row_of_a_block_is_discounted_by_the_same_item_factors():
    scores = np.array([[1.0, 1.0], [2.0, 4.0]], dtype=np.float32)

    out = discounted(scores, popularity_discount(np.array([1, 9]), 0.5))

    assert out.ravel().tolist() == pytest.approx([1.0, 1 / 3, 2.0, 4 / 3])
    assert scores.tolist() == [[1.0, 1.0], [2.0, 4.0]]  # the input is not modified


@pytest.mark.parametrize("exponent", [-0.1, float("nan"), float("inf")])
def test_an_exponent_that_is_negative_or_not_finite_is_refused(exponent):
    with pytest.raises(ValueError, match="exponent"):
        popularity_discount(np.array([1, 2]), exponent)


def test_negative_support_and_a_discount_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="support"):
        popularity_discount(np.array([1, -2]), 0.2)
    with pytest.raises(ValueError, match="shape"):
        discounted(np.ones(3), popularity_discount(np.array([1, 2]), 0.2))
