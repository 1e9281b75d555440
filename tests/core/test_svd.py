"""Biased MF for explicit ratings: accuracy on MovieLens 100k, fold-in, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core import ALGORITHMS, FitError
from recommender.core.svd import SVD, rmse

MOVIELENS_100K = (
    Path(__file__).resolve().parents[3] / "shared" / "datasets" / "movielens_100k" / "u.data.gz"
)


def taste_clusters(seed: int = 0) -> sp.csr_matrix:
    """30 users × 12 items: users in group A rate items 0–5 high and 6–11 low, group B the
    reverse; each user leaves two items of each half unrated."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((30, 12), dtype=np.float32)
    for user in range(30):
        likes_first = user < 15
        high, low = (slice(0, 6), slice(6, 12)) if likes_first else (slice(6, 12), slice(0, 6))
        dense[user, high] = rng.choice([4.0, 5.0], size=6)
        dense[user, low] = rng.choice([1.0, 2.0], size=6)
        for half in (0, 6):
            dense[user, half + rng.choice(6, size=2, replace=False)] = 0
    return sp.csr_matrix(dense)


@pytest.fixture(scope="module")
def ratings() -> sp.csr_matrix:
    return taste_clusters()


@pytest.fixture(scope="module")
def model(ratings: sp.csr_matrix) -> SVD:
    return SVD(factors=4, iterations=20, regularization=0.05, random_state=0).fit(ratings)


def test_it_is_registered_as_svd():
    assert ALGORITHMS["svd"] is SVD


def test_it_predicts_the_groups_liked_items_above_its_disliked_ones(model, ratings):
    users, items = np.nonzero(ratings.toarray() == 0)

    predicted = model.predict(users, items)

    liked = (users < 15) == (items < 6)
    assert predicted[liked].mean() > 4.0 > 2.0 > predicted[~liked].mean()
    for user in range(30):
        mine = users == user
        assert predicted[mine & liked].min() > predicted[mine & ~liked].max()


def test_it_recommends_unrated_items_the_user_will_like(model, ratings):
    ids, _ = model.recommend(np.arange(30), ratings, n=2)

    assert np.all(ids[:15] < 6)
    assert np.all(ids[15:] >= 6)


def test_biased_model_reproduces_training_ratings_closely(model, ratings):
    users, items = ratings.nonzero()

    error = model.rmse(users, items, ratings.data)

    assert error < 0.6


@pytest.mark.skipif(not MOVIELENS_100K.exists(), reason="MovieLens 100k not present")
def test_held_out_rmse_on_movielens_100k_is_below_0_96():
    data = np.loadtxt(MOVIELENS_100K, dtype=np.int64)
    users, items, stars = data[:, 0] - 1, data[:, 1] - 1, data[:, 2].astype(np.float32)
    held_out = np.random.default_rng(0).random(users.size) < 0.2
    train = sp.csr_matrix(
        (stars[~held_out], (users[~held_out], items[~held_out])),
        shape=(users.max() + 1, items.max() + 1),
    )

    model = SVD(iterations=10, random_state=0).fit(train)

    assert model.rmse(users[held_out], items[held_out], stars[held_out]) < 0.96


def test_fold_in_ranks_a_new_shopper_like_a_known_one_with_the_same_ratings(model, ratings):
    user = 20
    row = ratings[user]

    seen_ids, _ = model.recommend([user], ratings, n=3)
    fresh_ids, _ = model.recommend_from_items(row.indices, row.data, n=3, exclude=row.indices)

    assert set(fresh_ids) == set(seen_ids[0])


def test_fold_in_matches_a_direct_ridge_solve(model):
    items, stars = np.array([0, 1, 8]), np.array([5.0, 4.0, 1.0])

    solved = model.fold_in(model.items_to_row(items, stars))[0]

    F = np.hstack([np.ones((3, 1)), model.item_factors[items].astype(np.float64)])
    t = stars - model.global_mean - model.item_bias[items]
    lam = np.diag([model.bias_regularization] + [model.regularization] * 4) * 3
    np.testing.assert_allclose(solved, np.linalg.solve(F.T @ F + lam, F.T @ t), atol=1e-4)


def test_items_without_ratings_count_as_liked(model):
    implicit_row = model.items_to_row([0, 1])

    assert np.all(implicit_row.data == model.rating_stats[2])


def test_explain_names_a_highly_rated_item_of_the_same_taste(model):
    item, share = model.explain(2, [0, 7], [5.0, 1.0])

    assert item in (0, 7)
    assert 0 < share <= 1


def test_similar_items_share_a_taste_group(model):
    ids, _ = model.similar_items([0, 11], n=3)

    assert np.all(ids[0] < 6) and 0 not in ids[0]
    assert np.all(ids[1] >= 6) and 11 not in ids[1]


def test_predictions_are_clipped_to_the_rating_scale(model):
    predicted = model.predict(np.zeros(12, dtype=int), np.arange(12))

    assert predicted.min() >= 1.0 and predicted.max() <= 5.0


def test_rmse_helper_is_the_root_mean_squared_error():
    assert rmse([1.0, 3.0], [2.0, 5.0]) == pytest.approx(np.sqrt(2.5))


def test_rmse_rejects_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="equal"):
        rmse([1.0], [1.0, 2.0])


def test_predict_rejects_mismatched_pairs_and_unknown_users(model):
    with pytest.raises(ValueError, match="item ids"):
        model.predict([0, 1], [0])
    with pytest.raises(ValueError, match="user_ids"):
        model.predict([99], [0])


def test_save_and_load_round_trip_gives_identical_predictions(model, tmp_path):
    loaded = SVD.load(model.save(tmp_path / "svd.npz"))

    users, items = np.arange(30), np.arange(30) % 12
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    assert loaded.global_mean == model.global_mean
    assert loaded.params == model.params


def test_save_dir_round_trip_scores_new_shoppers_identically(model, tmp_path):
    loaded = SVD.load_dir(model.save_dir(tmp_path / "svd"))

    np.testing.assert_array_equal(
        loaded.recommend_from_items([0, 7], [5.0, 1.0])[0],
        model.recommend_from_items([0, 7], [5.0, 1.0])[0],
    )


def test_it_rejects_an_empty_matrix_and_bad_hyper_parameters():
    with pytest.raises(ValueError, match="no ratings"):
        SVD().fit(sp.csr_matrix((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="regularization"):
        SVD(regularization=0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_ratings_that_overflow_float32_raise_fit_error(ratings):
    with pytest.raises(FitError):
        SVD(factors=2, iterations=2).fit(ratings * 1e30)
