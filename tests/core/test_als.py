"""Implicit ALS: known answers, validation, fold-in, persistence (no database)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core import ALGORITHMS, FitError
from recommender.core.als import ALS


def two_clusters(n_users: int = 40, n_items: int = 20, seed: int = 0) -> sp.csr_matrix:
    """Users in the first half touch only the first half of the items, and vice versa; each
    user misses a few of their cluster's items."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    half_users, half_items = n_users // 2, n_items // 2
    for user in range(n_users):
        base = 0 if user < half_users else half_items
        chosen = rng.choice(half_items, size=half_items - 3, replace=False) + base
        rows += [user] * chosen.size
        cols += chosen.tolist()
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))


@pytest.fixture(scope="module")
def clusters() -> sp.csr_matrix:
    return two_clusters()


@pytest.fixture(scope="module")
def model(clusters: sp.csr_matrix) -> ALS:
    return ALS(factors=8, iterations=15, regularization=5.0, alpha=5.0, random_state=0).fit(
        clusters
    )


def test_it_is_registered_as_als():
    assert ALGORITHMS["als"] is ALS


def test_it_recommends_unseen_items_from_the_users_own_cluster(model, clusters):
    users = np.arange(clusters.shape[0])

    ids, scores = model.recommend(users, clusters, n=3)

    first_half = users < clusters.shape[0] // 2
    assert np.all(ids[first_half] < 10)
    assert np.all(ids[~first_half] >= 10)
    assert not np.any(clusters[users[:, None], ids].toarray())
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_learned_factors_are_float32_with_the_requested_shape(model, clusters):
    assert model.user_factors.shape == (clusters.shape[0], 8)
    assert model.item_factors.shape == (clusters.shape[1], 8)
    assert model.user_factors.dtype == np.float32
    assert model.item_factors.dtype == np.float32


def test_the_training_loss_decreases_across_iterations(clusters):
    losses: list[float] = []

    ALS(factors=8, iterations=8, regularization=0.01, alpha=5.0).fit(
        clusters, callback=lambda iteration, m: losses.append(m.loss(clusters))
    )

    assert len(losses) == 8
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < losses[0]


def test_cg_sweeps_approach_the_exact_least_squares_user_solution(model, clusters):
    exact = model.fold_in(clusters)

    cosine = np.sum(exact * model.user_factors, axis=1) / (
        np.linalg.norm(exact, axis=1) * np.linalg.norm(model.user_factors, axis=1)
    )

    assert cosine.min() > 0.99


def test_fold_in_ranks_an_unseen_shopper_like_a_seen_one_with_the_same_items(model, clusters):
    user = 3

    seen_ids, _ = model.recommend([user], clusters, n=5)
    history = clusters[user].indices
    fresh_ids, _ = model.recommend_from_items(history, n=5, exclude=history)

    assert set(fresh_ids[:3]) == set(seen_ids[0][:3])


def test_batched_fold_in_matches_one_row_at_a_time(model, clusters):
    together = model.fold_in(clusters[:6])

    one_by_one = np.vstack([model.fold_in(clusters[[user]]) for user in range(6)])

    np.testing.assert_allclose(together, one_by_one, rtol=1e-4, atol=1e-6)


def test_fold_in_of_one_row_matches_a_direct_solve(model):
    items = np.array([0, 2, 4])
    weights = np.array([1.0, 3.0, 1.0])

    x = model.fold_in(model.items_to_row(items, weights))[0]

    Y = model.item_factors.astype(np.float64)
    c = 1 + model.alpha * weights
    A = Y.T @ Y + model.regularization * np.eye(8) + Y[items].T @ ((c - 1)[:, None] * Y[items])
    expected = np.linalg.solve(A, Y[items].T @ c)
    np.testing.assert_allclose(x, expected, rtol=1e-3, atol=1e-5)


def test_users_added_after_fit_are_scored_by_fold_in(model, clusters):
    grown = sp.vstack([clusters, clusters[5]]).tocsr()

    ids, _ = model.recommend([clusters.shape[0]], grown, n=3)
    history = clusters[5].indices
    expected, _ = model.recommend_from_items(history, n=3, exclude=history)

    np.testing.assert_array_equal(ids[0], expected)


def test_explain_names_the_shoppers_item_that_contributes_most(model):
    history = np.array([1, 2, 15])

    item, share = model.explain(0, history)

    assert item in (1, 2)
    assert 0 < share <= 1


def test_explain_contributions_add_up_to_the_fold_in_score(model):
    history = np.array([1, 2, 3])
    row = model.items_to_row(history)
    score = float(model.score_from_rows(row)[0, 0])

    Y = model.item_factors.astype(np.float64)
    c = 1 + model.alpha * np.ones(3)
    A = model.YtY_reg.astype(np.float64) + Y[history].T @ ((c - 1)[:, None] * Y[history])
    contributions = c * (Y[history] @ np.linalg.solve(A, Y[0]))

    assert contributions.sum() == pytest.approx(score, rel=1e-3)
    assert model.explain(0, history)[0] == history[np.argmax(contributions)]


def test_similar_items_come_from_the_same_cluster_and_exclude_the_item(model):
    ids, scores = model.similar_items([0, 15], n=4)

    assert ids.shape == (2, 4)
    assert 0 not in ids[0] and 15 not in ids[1]
    assert np.all(ids[0] < 10) and np.all(ids[1] >= 10)
    assert np.all(scores <= 1.0 + 1e-5)


def test_item_similarity_is_the_cosine_of_item_factors(model):
    Y = model.item_factors

    similarity = model.item_similarity(0, np.array([1, 12]))

    expected = Y[[1, 12]] @ Y[0] / (np.linalg.norm(Y[[1, 12]], axis=1) * np.linalg.norm(Y[0]))
    np.testing.assert_allclose(similarity, expected, rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip_gives_identical_factors_and_scores(model, tmp_path):
    path = model.save(tmp_path / "als.npz")

    loaded = ALS.load(path)

    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
    assert loaded.params == model.params
    np.testing.assert_array_equal(
        loaded.recommend_from_items([0, 1])[0], model.recommend_from_items([0, 1])[0]
    )


def test_save_dir_memory_maps_the_factors(model, tmp_path):
    loaded = ALS.load_dir(model.save_dir(tmp_path / "als"))

    assert isinstance(loaded.item_factors, np.memmap)
    np.testing.assert_array_equal(loaded.similar_items([3])[0], model.similar_items([3])[0])


def test_it_rejects_a_dense_matrix():
    with pytest.raises(ValueError, match=r"scipy\.sparse"):
        ALS().fit(np.ones((3, 3)))


def test_it_rejects_negative_regularization_and_zero_factors():
    with pytest.raises(ValueError, match="regularization"):
        ALS(regularization=-1)
    with pytest.raises(ValueError, match="factors"):
        ALS(factors=0)


def test_scoring_rows_with_the_wrong_width_is_a_value_error(model):
    with pytest.raises(ValueError, match="item columns"):
        model.score_from_rows(sp.csr_matrix((1, 7), dtype=np.float32))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_confidences_that_overflow_float32_raise_fit_error(clusters):
    with pytest.raises(FitError):
        ALS(factors=4, iterations=2, alpha=1e38).fit(clusters * 10)


def test_same_seed_gives_the_same_factors(clusters):
    first = ALS(factors=4, iterations=3, random_state=7, num_threads=1).fit(clusters)
    second = ALS(factors=4, iterations=3, random_state=7, num_threads=2).fit(clusters)

    np.testing.assert_allclose(first.item_factors, second.item_factors, rtol=1e-5, atol=1e-7)


def test_users_and_items_without_interactions_get_finite_factors():
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0]], dtype=np.float32))

    model = ALS(factors=2, iterations=3).fit(matrix)

    assert np.all(np.isfinite(model.user_factors))
    assert np.all(np.isfinite(model.item_factors))


def test_two_threads_give_exactly_the_factors_of_one_thread(monkeypatch):
    # Many blocks per sweep and rows longer than a block (the per-thread scratch must grow):
    # with the same blocks, how they are spread over threads changes no bit of the result.
    matrix = two_clusters(n_users=60, n_items=30, seed=3)
    monkeypatch.setattr("recommender.core.als.SWEEP_BLOCK_NNZ", 16)
    monkeypatch.setattr("recommender.core.als.SWEEP_BLOCK_ROWS", 3)

    one_thread = ALS(factors=6, iterations=4, random_state=1, num_threads=1).fit(matrix)
    two_threads = ALS(factors=6, iterations=4, random_state=1, num_threads=2).fit(matrix)

    np.testing.assert_array_equal(two_threads.user_factors, one_thread.user_factors)
    np.testing.assert_array_equal(two_threads.item_factors, one_thread.item_factors)


def test_small_blocks_give_the_factors_of_one_block_when_each_row_solve_converges(monkeypatch):
    # Each row's solve is independent of how rows are split into blocks. Compared where that
    # solve is well defined: with 3 CG steps for 6 factors the truncated solve of this
    # ill-conditioned matrix moves with float32 rounding (BLAS rounds a 1-row and a 60-row
    # product differently), and 4 sweeps amplify 2e-6 into 0.4; with CG run past the factor
    # count the rows converge and only rounding is left.
    matrix = two_clusters(n_users=60, n_items=30, seed=3)
    params = dict(factors=6, cg_steps=8, regularization=1.0, iterations=4, random_state=1)
    one_block = ALS(**params, num_threads=1).fit(matrix)
    monkeypatch.setattr("recommender.core.als.SWEEP_BLOCK_NNZ", 16)
    monkeypatch.setattr("recommender.core.als.SWEEP_BLOCK_ROWS", 3)

    many_blocks = ALS(**params, num_threads=2).fit(matrix)

    np.testing.assert_allclose(
        many_blocks.user_factors, one_block.user_factors, rtol=1e-3, atol=1e-4
    )
    np.testing.assert_allclose(
        many_blocks.item_factors, one_block.item_factors, rtol=1e-3, atol=1e-4
    )
