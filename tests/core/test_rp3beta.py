"""RP3beta: the walk probabilities by hand, a dense brute force, and what beta does."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.rp3beta import RP3Beta


def dense_rp3beta(X, alpha, beta):
    """W = (D_I^-1 B^T)^α (D_U^-1 X)^α / pop^β, diagonal 0, B the binary pattern of X."""
    B = (X > 0).astype(float)
    pop = B.sum(axis=0)
    P_ui = X / X.sum(axis=1, keepdims=True)
    P_iu = B.T / pop[:, None]
    W = (P_iu**alpha) @ (P_ui**alpha) / pop[None, :] ** beta
    np.fill_diagonal(W, 0)
    return W


def test_it_computes_the_three_step_walk_probabilities_by_hand():
    # u0: {0, 1}; u1: {0, 1, 2}; u2: {1, 2}. From item 0: u0 or u1 (1/2 each), then one of
    # their items: W_01 = 1/2 (1/2 + 1/3) = 5/12, W_02 = 1/2 (1/3) = 1/6.
    X = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32))
    p3 = np.array([[0, 5 / 12, 1 / 6], [5 / 18, 0, 5 / 18], [1 / 6, 5 / 12, 0]])

    plain = RP3Beta(alpha=1.0, beta=0.0).fit(X)
    penalised = RP3Beta(alpha=1.0, beta=1.0).fit(X)

    np.testing.assert_allclose(plain.similarity.toarray(), p3, rtol=1e-6)
    # beta = 1 divides each destination column by its popularity (2, 3, 2 shoppers).
    np.testing.assert_allclose(penalised.similarity.toarray(), p3 / [2, 3, 2], rtol=1e-6)


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (0.7, 0.4), (1.5, 0.9)])
def test_it_matches_a_dense_brute_force_on_weighted_interactions(alpha, beta):
    rng = np.random.default_rng(3)
    X = sp.random(50, 30, density=0.2, random_state=rng, dtype=np.float32, format="csr")
    X.data = rng.integers(1, 5, X.nnz).astype(np.float32)
    expected = dense_rp3beta(X.toarray().astype(np.float64), alpha, beta)

    model = RP3Beta(alpha=alpha, beta=beta, k_neighbors=30).fit(X)

    np.testing.assert_allclose(model.similarity.toarray(), np.nan_to_num(expected), rtol=1e-5)


def test_beta_above_zero_lifts_a_niche_neighbour_over_a_popular_one():
    # Item 0's shoppers all bought item 1 (bought by everyone), two of them also item 2.
    rows = [[0, 1, 2], [0, 1, 2], [0, 1], [1, 3], [1, 3], [1, 3]]
    dense = np.zeros((6, 4), dtype=np.float32)
    for user, items in enumerate(rows):
        dense[user, items] = 1.0
    X = sp.csr_matrix(dense)

    plain, _ = RP3Beta(beta=0.0).fit(X).similar_items([0], n=2)
    penalised, _ = RP3Beta(beta=1.0).fit(X).similar_items([0], n=2)

    # W_01 = 7/18 > W_02 = 4/18; divided by popularity 6 and 2: 7/108 < 12/108.
    assert plain[0].tolist() == [1, 2]
    assert penalised[0].tolist() == [2, 1]


def test_normalize_scales_each_items_neighbours_to_sum_to_one():
    rng = np.random.default_rng(4)
    X = sp.random(40, 25, density=0.25, random_state=rng, dtype=np.float32, format="csr")
    raw = RP3Beta(k_neighbors=5).fit(X).similarity.toarray()

    scaled = RP3Beta(k_neighbors=5, normalize=True).fit(X).similarity.toarray()

    sums = raw.sum(axis=1)
    np.testing.assert_allclose(scaled.sum(axis=1)[sums > 0], 1.0, rtol=1e-5)
    np.testing.assert_allclose(scaled * sums[:, None], raw, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"alpha": 0.0}, "alpha"), ({"beta": -0.1}, "beta"), ({"k_neighbors": 0}, "k_neighbors")],
)
def test_it_rejects_bad_hyper_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        RP3Beta(**params)
