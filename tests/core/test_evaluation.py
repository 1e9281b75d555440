"""Known-answer tests for splits and metrics; every expected value is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.evaluation import (
    catalog_coverage,
    evaluate,
    hit_rate_at_k,
    hits_at_k,
    intra_list_diversity,
    item_popularity,
    map_at_k,
    ndcg_at_k,
    novelty,
    paired_bootstrap_ratio,
    per_user_metrics,
    precision_at_k,
    recall_at_k,
    rmse,
)
from recommender.core.ranking import top_k
from recommender.core.splits import (
    global_temporal_split,
    per_user_temporal_split,
    split_matrices,
    validation_split,
)


def relevant_matrix(rows: list[list[int]], n_items: int = 10) -> sp.csr_matrix:
    data = [(u, i) for u, items in enumerate(rows) for i in items]
    users = [u for u, _ in data]
    items = [i for _, i in data]
    return sp.csr_matrix((np.ones(len(data)), (users, items)), shape=(len(rows), n_items))


# Four users: a hit in the middle, two hits at the ends, a miss with padding, no test items.
RECOMMENDED = np.array([[1, 2, 3], [4, 5, 6], [7, -1, -1], [1, 2, 3]])
RELEVANT = relevant_matrix([[2, 7], [4, 6], [8], []])
LOG2_3 = math.log2(3)


# -- splits -----------------------------------------------------------------------------------


def test_per_user_split_holds_out_each_users_latest_fifth():
    users = np.array([0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0])
    times = np.array([5, 1, 2, 3, 4, 9, 8, 10, 6, 7, 8, 9])
    items = np.arange(12)

    train, test = per_user_temporal_split(users, items, times, test_fraction=0.2)

    # User 0 has 10 events, so its 2 latest (times 10 and 9) are test; user 1 has 2 events,
    # floor(0.4) = 0, so both stay in training.
    assert test.tolist() == [7, 11]
    assert train.tolist() == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]


def test_per_user_split_breaks_equal_times_by_input_order():
    users = np.zeros(5, dtype=int)
    times = np.array([1, 2, 3, 3, 3])

    train, test = per_user_temporal_split(users, np.arange(5), times, test_fraction=0.4)

    assert test.tolist() == [3, 4]
    assert train.tolist() == [0, 1, 2]


def test_global_split_holds_out_the_latest_tenth_of_all_interactions():
    times = np.array([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])
    users = np.arange(10) % 3

    train, test = global_temporal_split(users, np.arange(10), times, test_fraction=0.3)

    assert test.tolist() == [0, 2, 4]
    assert train.tolist() == [1, 3, 5, 6, 7, 8, 9]


def test_global_split_keeps_interactions_at_the_cutoff_time_together():
    times = np.array([1, 2, 3, 3, 3])

    _, test = global_temporal_split(np.zeros(5), np.arange(5), times, test_fraction=0.2)

    assert test.tolist() == [2, 3, 4]


def test_splits_reject_a_fraction_outside_zero_to_one():
    with pytest.raises(ValueError, match="test_fraction"):
        global_temporal_split([0], [0], [0], test_fraction=1.0)


def test_validation_is_carved_from_training_positions_only():
    users = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    times = np.arange(10)
    train, test = per_user_temporal_split(users, np.arange(10), times, test_fraction=0.2)

    fit, validation = validation_split(users, np.arange(10), times, train, fraction=0.25)

    # Training is times 0..7; floor(0.25 * 8) = 2 latest of those validate.
    assert test.tolist() == [8, 9]
    assert validation.tolist() == [6, 7]
    assert fit.tolist() == [0, 1, 2, 3, 4, 5]


def test_global_validation_uses_a_time_cutoff_inside_training():
    times = np.arange(10)
    train, _ = global_temporal_split(np.zeros(10), np.arange(10), times, test_fraction=0.5)

    fit, validation = validation_split(
        np.zeros(10), np.arange(10), times, train, method="global", fraction=0.4
    )

    assert validation.tolist() == [3, 4]
    assert fit.tolist() == [0, 1, 2]


def test_split_matrices_drops_test_pairs_of_users_or_items_unseen_in_training():
    users = np.array([5, 5, 7, 7, 9])
    items = np.array([3, 4, 3, 8, 3])
    values = np.ones(5)

    split = split_matrices(users, items, values, train_idx=[0, 1, 2], test_idx=[3, 4])

    # Item 8 is new and user 9 is new: both test pairs are cold and dropped.
    assert split.user_ids.tolist() == [5, 7]
    assert split.item_ids.tolist() == [3, 4]
    assert split.train.toarray().tolist() == [[1, 1], [1, 0]]
    assert split.test.nnz == 0
    assert split.n_cold_dropped == 2


def test_split_matrices_keeps_warm_test_pairs_in_the_training_index_space():
    users = np.array([0, 0, 1, 1])
    items = np.array([0, 1, 1, 0])

    split = split_matrices(users, items, np.ones(4), train_idx=[0, 1, 2], test_idx=[3])

    assert split.test.toarray().tolist() == [[0, 0], [1, 0]]
    assert split.n_cold_dropped == 0


# -- ranking metrics --------------------------------------------------------------------------


def test_hits_mark_relevant_positions_and_never_the_padding():
    hits = hits_at_k(RECOMMENDED, RELEVANT)

    assert hits.tolist() == [
        [False, True, False],
        [True, False, True],
        [False, False, False],
        [False, False, False],
    ]


def test_precision_divides_hits_by_k_over_users_with_test_items():
    # (1/3 + 2/3 + 0) / 3; the fourth user has no test items and is skipped.
    assert precision_at_k(RECOMMENDED, RELEVANT) == pytest.approx(1 / 3)


def test_recall_divides_hits_by_the_number_of_relevant_items():
    assert recall_at_k(RECOMMENDED, RELEVANT) == pytest.approx((1 / 2 + 2 / 2 + 0) / 3)


def test_ndcg_discounts_by_log2_of_rank_plus_one():
    # User 0: DCG 1/log2(3), ideal 1 + 1/log2(3). User 1: DCG 1 + 1/log2(4), same ideal.
    ideal = 1 + 1 / LOG2_3
    expected = ((1 / LOG2_3) / ideal + 1.5 / ideal + 0) / 3

    assert ndcg_at_k(RECOMMENDED, RELEVANT) == pytest.approx(expected)


def test_map_averages_precision_at_each_hit_over_min_k_and_relevant():
    # User 0: P@2 = 1/2 over min(3, 2) = 0.25. User 1: (1 + 2/3) / 2 = 5/6.
    assert map_at_k(RECOMMENDED, RELEVANT) == pytest.approx((0.25 + 5 / 6 + 0) / 3)


def test_hit_rate_counts_users_with_any_hit():
    assert hit_rate_at_k(RECOMMENDED, RELEVANT) == pytest.approx(2 / 3)


def test_metrics_truncate_lists_to_k():
    # At k=1 only user 1 hits (item 4).
    assert precision_at_k(RECOMMENDED, RELEVANT, k=1) == pytest.approx(1 / 3)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, k=1) == pytest.approx(1 / 3)


@pytest.mark.parametrize("k", [0, -1])
@pytest.mark.parametrize(
    "metric", [precision_at_k, recall_at_k, ndcg_at_k, map_at_k, hit_rate_at_k, per_user_metrics]
)
def test_metrics_refuse_a_k_below_one(metric, k):
    with pytest.raises(ValueError, match=f"k must be >= 1, got {k}"):
        metric(RECOMMENDED, RELEVANT, k=k)


def test_an_id_repeated_in_a_list_is_a_hit_at_its_first_position_only():
    relevant = relevant_matrix([[0], [3, 5]])
    recommended = np.array([[0, 0, 2], [9, 5, 5]])

    hits = hits_at_k(recommended, relevant)

    assert hits.tolist() == [[True, False, False], [False, True, False]]
    assert recall_at_k(recommended, relevant) == pytest.approx((1 + 1 / 2) / 2)
    assert ndcg_at_k(recommended, relevant) == pytest.approx(
        (1 + (1 / LOG2_3) / (1 + 1 / LOG2_3)) / 2
    )
    assert precision_at_k(recommended, relevant) == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert map_at_k(recommended, relevant) == pytest.approx((1 + (1 / 2) / 2) / 2)


def test_ndcg_ideal_is_capped_at_k_when_more_items_are_relevant():
    relevant = relevant_matrix([[0, 1, 2, 3]])

    assert ndcg_at_k(np.array([[0, 1]]), relevant) == pytest.approx(1.0)
    assert map_at_k(np.array([[0, 1]]), relevant) == pytest.approx(1.0)


def test_per_user_metrics_give_one_value_per_user_with_test_items_in_row_order():
    per_user = per_user_metrics(RECOMMENDED, RELEVANT)

    ideal = 1 + 1 / LOG2_3
    np.testing.assert_allclose(per_user["ndcg"], [(1 / LOG2_3) / ideal, 1.5 / ideal, 0.0])
    np.testing.assert_allclose(per_user["hit_rate"], [1.0, 1.0, 0.0])
    assert per_user["ndcg"].mean() == pytest.approx(ndcg_at_k(RECOMMENDED, RELEVANT))


# -- comparing two models ---------------------------------------------------------------------


def test_bootstrap_ratio_of_a_constant_multiple_is_exact():
    theirs = np.random.default_rng(0).random(40)

    ratio, low, high = paired_bootstrap_ratio(2 * theirs, theirs)

    assert ratio == pytest.approx(2.0)
    assert low == pytest.approx(2.0)
    assert high == pytest.approx(2.0)


def test_bootstrap_interval_holds_the_ratio_and_narrows_with_more_users():
    rng = np.random.default_rng(1)
    # Sparse per-user scores like NDCG on a small split: most users score 0.
    theirs = rng.random(3_000) * (rng.random(3_000) < 0.3)
    ours = 1.1 * theirs + 0.2 * rng.random(3_000) * (rng.random(3_000) < 0.3)

    few = paired_bootstrap_ratio(ours[:30], theirs[:30])
    many = paired_bootstrap_ratio(ours, theirs)

    for ratio, low, high in (few, many):
        assert low < ratio < high
    assert few[2] - few[1] > 4 * (many[2] - many[1])
    assert many[1] > 1.0  # 3,000 users tell a ~1.3× ratio from a tie


def test_bootstrap_is_reproducible_with_a_seed():
    rng = np.random.default_rng(2)
    ours, theirs = rng.random(25), rng.random(25)

    assert paired_bootstrap_ratio(ours, theirs, random_state=5) == paired_bootstrap_ratio(
        ours, theirs, random_state=5
    )


@pytest.mark.parametrize(
    ("ours", "theirs", "kwargs", "message"),
    [
        (np.ones(3), np.ones(4), {}, "one value per user"),
        (np.ones((2, 2)), np.ones((2, 2)), {}, "1-D"),
        (np.ones(0), np.ones(0), {}, "no users"),
        (np.ones(3), np.ones(3), {"confidence": 1.0}, "confidence"),
        (np.ones(3), np.ones(3), {"n_resamples": 0}, "n_resamples"),
    ],
)
def test_bootstrap_rejects_bad_input(ours, theirs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_ratio(ours, theirs, **kwargs)


def test_bootstrap_ratio_against_all_zero_scores_is_nan():
    ratio, low, high = paired_bootstrap_ratio(np.ones(5), np.zeros(5))

    assert math.isnan(ratio) and math.isnan(low) and math.isnan(high)


# -- beyond accuracy --------------------------------------------------------------------------


def test_coverage_is_the_share_of_catalogue_recommended_to_anyone():
    assert catalog_coverage(np.array([[0, 1], [1, 2], [-1, -1]]), n_items=10) == pytest.approx(0.3)


def test_diversity_from_categories_counts_pairs_in_different_categories():
    categories = np.array([0, 0, 1])
    lists = np.array([[0, 1, 2], [0, 1, -1]])

    # List 1: pairs (0,1) same, (0,2) and (1,2) differ -> 2/3. List 2: one pair, same -> 0.
    assert intra_list_diversity(lists, categories=categories) == pytest.approx(1 / 3)


@pytest.mark.parametrize("to_matrix", [np.asarray, sp.csr_matrix])
def test_diversity_from_features_is_one_minus_cosine(to_matrix):
    features = to_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    lists = np.array([[0, 1], [0, 2]])

    # Orthogonal pair -> 1; 45-degree pair -> 1 - 1/sqrt(2).
    expected = (1 + (1 - 1 / math.sqrt(2))) / 2

    assert intra_list_diversity(lists, item_features=features) == pytest.approx(expected)


def test_diversity_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        intra_list_diversity(np.array([[0, 1]]))


def test_novelty_is_mean_self_information_with_unseen_items_counted_once():
    popularity = np.array([4, 2, 1, 0])

    # -log2(4/4) = 0, -log2(2/4) = 1, -log2(1/4) = 2, unseen -> -log2(1/4) = 2.
    assert novelty(np.array([[0, 1], [2, 3]]), popularity, n_users=4) == pytest.approx(1.25)


def test_item_popularity_counts_distinct_users():
    matrix = sp.csr_matrix(np.array([[3.0, 0, 1], [1, 0, 0]]))

    assert item_popularity(matrix).tolist() == [2, 0, 1]


def test_rmse_is_the_root_of_mean_squared_error():
    assert rmse([3, 4, 5], [2, 4, 7]) == pytest.approx(math.sqrt(5 / 3))


def test_rmse_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="values"):
        rmse([1, 2], [1])


# -- evaluate ---------------------------------------------------------------------------------


class FixedPreference:
    """Every user prefers items in index order: scores n_items, ..., 1."""

    def __init__(self, n_items: int) -> None:
        self.scores = np.arange(n_items, 0, -1, dtype=np.float32)

    def recommend(self, user_ids, user_items, n=10, exclude_seen=True):
        user_ids = np.asarray(user_ids)
        scores = np.tile(self.scores, (user_ids.size, 1))
        return top_k(scores, n, exclude=user_items[user_ids] if exclude_seen else None)


TRAIN = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
TEST = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]], dtype=np.float32))


def test_evaluate_excludes_training_items_and_skips_users_without_history():
    # User 0 gets [1, 2] (item 0 seen) and hits 1 at rank 1; user 1 gets [0, 2] and misses 3.
    metrics = evaluate(FixedPreference(4), TRAIN, TEST, k=2)

    assert metrics["n_users"] == 2
    assert metrics["ndcg@2"] == pytest.approx(0.5)
    assert metrics["recall@2"] == pytest.approx(0.5)
    assert metrics["precision@2"] == pytest.approx(0.25)
    assert metrics["map@2"] == pytest.approx(0.5)
    assert metrics["hit_rate@2"] == pytest.approx(0.5)
    assert metrics["coverage"] == pytest.approx(3 / 4)
    # Items 1, 2, 0, 2 have training popularity 1, 0->1, 1, 0->1 among 3 users.
    assert metrics["novelty"] == pytest.approx(math.log2(3))


def test_evaluate_can_include_users_without_training_history():
    metrics = evaluate(FixedPreference(4), TRAIN, TEST, k=2, include_cold_users=True)

    # User 2 gets [0, 1] and hits 0 at rank 1: NDCG 1.
    assert metrics["n_users"] == 3
    assert metrics["ndcg@2"] == pytest.approx(2 / 3)


def test_evaluate_gives_the_same_answer_in_any_batch_size():
    whole = evaluate(FixedPreference(4), TRAIN, TEST, k=2, categories=np.array([0, 0, 1, 1]))

    one_by_one = evaluate(
        FixedPreference(4), TRAIN, TEST, k=2, batch_size=1, categories=np.array([0, 0, 1, 1])
    )

    assert one_by_one == whole
    # Lists [1, 2] and [0, 2] both straddle the two categories.
    assert whole["diversity"] == pytest.approx(1.0)


def test_evaluate_scores_a_seeded_sample_of_at_most_max_users_with_its_interval():
    train = sp.random(400, 30, density=0.2, random_state=1, format="csr")
    test = sp.random(400, 30, density=0.1, random_state=2, format="csr")
    model = FixedPreference(30)
    everyone = evaluate(model, train, test, k=5)

    sample = evaluate(model, train, test, k=5, max_users=100)
    again = evaluate(model, train, test, k=5, max_users=100, batch_size=7)
    other_seed = evaluate(model, train, test, k=5, max_users=100, random_state=1)

    assert everyone["n_users"] == everyone["n_eligible_users"] > 300
    assert (sample["n_users"], sample["n_eligible_users"]) == (100, everyone["n_users"])
    assert again == sample  # the same sample, whatever the batches
    assert other_seed["ndcg@5"] != sample["ndcg@5"]
    # The sample's interval is wider than the whole population's, and covers its mean.
    assert sample["ndcg@5_ci95"] > everyone["ndcg@5_ci95"] > 0
    assert abs(sample["ndcg@5"] - everyone["ndcg@5"]) < sample["ndcg@5_ci95"]


def test_evaluate_refuses_a_sample_of_no_users():
    with pytest.raises(ValueError, match="max_users"):
        evaluate(FixedPreference(4), TRAIN, TEST, k=2, max_users=0)


def test_a_user_sample_is_seeded_sorted_and_only_taken_past_the_limit():
    from recommender.core.evaluation import sample_users

    users = np.arange(100, 200)

    assert sample_users(users, 100) is users
    picked = sample_users(users, 10)
    assert picked.size == np.unique(picked).size == 10 and np.all(np.diff(picked) > 0)
    assert set(picked) <= set(users)
    np.testing.assert_array_equal(picked, sample_users(users, 10))
    assert not np.array_equal(picked, sample_users(users, 10, random_state=1))
