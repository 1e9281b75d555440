"""Item-kNN and user-kNN: exact similarities on small matrices, neighbour pruning, speed."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.kernels import top_per_row
from recommender.core.knn import ItemKNN
from recommender.core.ranking import top_k
from recommender.core.user_knn import UserKNN


def random_matrix(n_users=60, n_items=40, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    matrix = sp.random(n_users, n_items, density=density, random_state=rng, dtype=np.float32)
    matrix.data = rng.integers(1, 5, matrix.nnz).astype(np.float32)
    return matrix.tocsr()


def dense_cosine(X, shrinkage=0.0):
    dots = X.T @ X
    norms = np.sqrt(np.diag(dots))
    return dots / (np.outer(norms, norms) + shrinkage)


def dense_jaccard(X):
    B = (X > 0).astype(float)
    both = B.T @ B
    sizes = B.sum(axis=0)
    return both / (sizes[:, None] + sizes[None, :] - both)


@pytest.mark.parametrize(
    ("params", "reference"),
    [
        ({"similarity": "cosine"}, lambda X: dense_cosine(X)),
        ({"similarity": "cosine", "shrinkage": 10.0}, lambda X: dense_cosine(X, 10.0)),
        ({"similarity": "jaccard"}, dense_jaccard),
    ],
)
def test_it_matches_a_dense_brute_force_similarity(params, reference):
    X = random_matrix()
    expected = reference(X.toarray().astype(np.float64))
    np.fill_diagonal(expected, 0)

    model = ItemKNN(k_neighbors=40, **params).fit(X)

    np.testing.assert_allclose(model.similarity.toarray(), expected, atol=1e-5)


def test_it_keeps_only_the_k_most_similar_neighbours_per_item():
    X = random_matrix(n_users=200, n_items=50, density=0.3)
    expected = dense_cosine(X.toarray().astype(np.float64))
    np.fill_diagonal(expected, 0)

    model = ItemKNN(k_neighbors=5).fit(X)

    S = model.similarity
    assert np.diff(S.indptr).max() == 5
    for item in range(50):
        kept = S.data[S.indptr[item] : S.indptr[item + 1]]
        assert kept.min() >= np.sort(expected[item])[-5] - 1e-5
    assert S.diagonal().sum() == 0


def test_it_applies_bm25_weighting_like_the_reference_formula():
    X = random_matrix()
    A = X.toarray().astype(np.float64)
    n_items = A.shape[1]
    idf = np.maximum(np.log(n_items) - np.log1p((A > 0).sum(axis=1)), 0)
    length = A.sum(axis=0)
    norm = 0.25 + 0.75 * length / ((length**2).sum() / length.sum())
    W = np.where(A > 0, A * 2.2 / (1.2 * norm[None, :] + A) * idf[:, None], 0)
    expected = dense_cosine(W)
    np.fill_diagonal(expected, 0)

    model = ItemKNN(weighting="bm25", k_neighbors=40).fit(X)

    np.testing.assert_allclose(model.similarity.toarray(), np.nan_to_num(expected), atol=1e-5)


def test_bm25_dot_similarity_is_the_unnormalised_product_of_bm25_columns():
    X = random_matrix()
    A = X.toarray().astype(np.float64)
    n_items = A.shape[1]
    idf = np.maximum(np.log(n_items) - np.log1p((A > 0).sum(axis=1)), 0)
    length = A.sum(axis=0)
    norm = 0.25 + 0.75 * length / ((length**2).sum() / length.sum())
    W = np.where(A > 0, A * 2.2 / (1.2 * norm[None, :] + A) * idf[:, None], 0)
    expected = W.T @ W
    np.fill_diagonal(expected, 0)

    model = ItemKNN(similarity="dot", weighting="bm25", k_neighbors=40).fit(X)

    assert expected.max() > 1.5  # raw dot products, not cosines in [0, 1]
    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5, atol=1e-6)


def test_dot_similarity_stays_exact_for_rows_on_very_different_scales():
    # Products range from 1e6 (items 0, 1) down to 9e-6 (items 2, 3): one scale shared by all
    # rows would round the small ones to zero.
    X = sp.csr_matrix(
        np.array([[1000, 1000, 0, 0], [0, 0, 0.003, 0.002], [0, 1, 0.001, 0.003]], np.float32)
    )
    expected = X.toarray().astype(np.float64).T @ X.toarray().astype(np.float64)
    np.fill_diagonal(expected, 0)

    model = ItemKNN(similarity="dot", k_neighbors=3).fit(X)

    np.testing.assert_allclose(model.similarity.toarray(), expected, rtol=1e-5)
    assert model.similarity[2].toarray().ravel()[3] == pytest.approx(9e-6, rel=1e-5)


def test_dot_similarity_refuses_a_shrinkage():
    with pytest.raises(ValueError, match="shrinkage"):
        ItemKNN(similarity="dot", shrinkage=5.0)


def test_it_ranks_entries_per_row_and_skips_the_given_column():
    rows = np.array([0, 0, 0, 0, 1, 1])
    cols = np.array([3, 1, 2, 0, 2, 0])
    values = np.array([0.9, 0.5, 0.9, 0.7, 0.1, 0.2])

    r, c, v = top_per_row(rows, cols, values, n_rows=2, n_cols=4, k=2, skip_cols=np.array([0, -1]))

    assert r.tolist() == [0, 0, 1, 1]
    assert c.tolist() == [2, 3, 0, 2]
    np.testing.assert_allclose(v, [0.9, 0.9, 0.2, 0.1], atol=1e-6)


def test_it_rejects_jaccard_with_a_weighting_and_unknown_similarities():
    with pytest.raises(ValueError, match="jaccard"):
        ItemKNN(similarity="jaccard", weighting="bm25")
    with pytest.raises(ValueError, match="similarity must be one of"):
        UserKNN(similarity="jaccard")


def test_it_scores_a_request_as_the_weighted_sum_of_neighbour_rows():
    X = random_matrix()
    model = ItemKNN(k_neighbors=10).fit(X)
    items, weights = np.array([3, 7]), np.array([1.0, 2.5])

    ids, scores = model.recommend_from_items(items, weights, n=5, exclude=items)

    expected = model.similarity[3].toarray() + 2.5 * model.similarity[7].toarray()
    np.testing.assert_allclose(scores, expected.ravel()[ids], rtol=1e-5)
    assert not set(ids) & {3, 7}


def test_user_knn_matches_a_dense_pearson_neighbourhood():
    X = random_matrix(n_users=30, n_items=20, density=0.3)
    A = X.toarray().astype(np.float64)
    row = np.zeros(20)
    row[[1, 4, 9]] = [1.0, 3.0, 2.0]
    corr = np.array([np.corrcoef(row, a)[0, 1] for a in A])
    neighbours = np.argsort(-corr)[:4]
    expected = corr[neighbours] @ A[neighbours]

    model = UserKNN(similarity="pearson", k_neighbors=4).fit(X)

    scores = model.score_from_rows(sp.csr_matrix(row[None, :]))
    np.testing.assert_allclose(scores.ravel(), expected, rtol=1e-4, atol=1e-5)


def test_user_knn_never_counts_a_training_user_as_their_own_neighbour():
    X = random_matrix(n_users=30, n_items=20, density=0.3)
    model = UserKNN(k_neighbors=3).fit(X)

    neighbours = model.neighbours(X[[5, 6]], np.array([5, 6]))

    assert neighbours[0, 5] == 0 and neighbours[1, 6] == 0
    assert np.diff(neighbours.indptr).tolist() == [3, 3]


def test_user_knn_explains_with_the_item_shared_with_its_neighbours():
    X = sp.csr_matrix(
        np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=np.float32)
    )
    model = UserKNN(k_neighbors=2).fit(X)

    item, share = model.explain(1, [0, 2])

    assert item == 0
    assert share > 0.5


def test_jaccard_does_not_count_a_stored_zero_as_a_shopper_of_the_item():
    # Shopper 0 stored a 0 for item 1 (no interaction): items 0 and 1 share no shopper.
    matrix = sp.csr_matrix(
        (np.array([1, 0, 1, 1], np.float32), np.array([0, 1, 0, 1]), np.array([0, 2, 3, 4])),
        shape=(3, 2),
    )

    model = ItemKNN(similarity="jaccard").fit(matrix)

    ids, _scores = model.similar_items([0], n=1)
    assert ids[0, 0] == -1  # no neighbour at all, where it used to report 1/3


def planted_zipf_shop(n_items, n_users, *, groups=20, seen=12, later=3, seed=0):
    """(training matrix, later matrix): shoppers each shop one of ``groups`` taste groups, items
    drawn by Zipf(1.1) popularity within the group as the demo shop draws them; ``later`` holds
    what each shopper goes on to touch (not already seen)."""
    rng = np.random.default_rng(seed)
    group_of = rng.integers(groups, size=n_items)
    weight = 1.0 / (rng.permutation(n_items) + 1.0) ** 1.1
    taste = rng.integers(groups, size=n_users)
    picks = np.zeros((n_users, seen + later), dtype=np.int64)
    for group in range(groups):
        members = np.flatnonzero(group_of == group)
        shoppers = np.flatnonzero(taste == group)
        p = weight[members] / weight[members].sum()
        picks[shoppers] = rng.choice(members, size=(shoppers.size, seen + later), p=p)

    def binary(columns):
        rows = np.repeat(np.arange(n_users), columns.shape[1])
        ones = np.ones(columns.size, dtype=np.float32)
        matrix = sp.csr_matrix((ones, (rows, columns.ravel())), shape=(n_users, n_items))
        matrix.data[:] = 1.0
        return matrix

    X = binary(picks[:, :seen])
    later_matrix = binary(picks[:, seen:])
    later_matrix = later_matrix - later_matrix.multiply(X)
    later_matrix.eliminate_zeros()
    return X, later_matrix


def later_hit_rate(model, X, later, n_shoppers=500):
    """Share of the first shoppers whose top 10 holds something they touch later."""
    shoppers = np.arange(n_shoppers)
    ids, _ = model.recommend(shoppers, X, n=10)
    hits = later[shoppers].toarray()[shoppers[:, None] - shoppers[0], ids]
    return float((hits.sum(axis=1) > 0).mean())


def test_bm25_neighbours_keep_their_accuracy_as_the_long_tail_grows():
    # Issue 14: with BM25's length normalised by the mean item length, the demo shop's head
    # weighed ~1/4000 of a one-shopper product at 20k products and neighbour lists filled with
    # coincidences (this hit rate fell from 0.15 at 2k items to 0.014 at 20k). The production
    # defaults (config/settings.py) on the same planted shop at both sizes:
    params = {"similarity": "dot", "weighting": "bm25", "k_neighbors": 300, "bm25_k1": 12.0}
    small_X, small_later = planted_zipf_shop(2_000, 5_000)
    large_X, large_later = planted_zipf_shop(20_000, 20_000)

    small = later_hit_rate(ItemKNN(**params, bm25_b=1.0).fit(small_X), small_X, small_later)
    large = later_hit_rate(ItemKNN(**params, bm25_b=1.0).fit(large_X), large_X, large_later)

    assert small > 0.3
    assert large > 0.8 * small


def test_similar_items_read_from_the_stored_neighbours_equal_a_dense_top_k():
    # Ties (a stored 0.5 twice), a stored zero, a short row and an empty row: the stored-entry
    # ranking must give exactly what top_k over a dense -inf-filled block gives.
    S = sp.csr_matrix(
        np.array(
            [
                [0.0, 0.5, 0.0, 0.5, 0.9, 0.0],
                [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [0.3, 0.1, 0.7, 0.0, 0.7, 0.3],
            ],
            dtype=np.float32,
        )
    )
    model = ItemKNN(k_neighbors=10).fit(random_matrix(n_items=6))
    model.similarity = S
    model.similarity[3, 5] = 0.0  # an explicitly stored zero
    dense = np.full(S.shape, -np.inf, dtype=np.float32)
    stored = model.similarity.tocoo()
    dense[stored.row, stored.col] = stored.data

    for n in (1, 2, 4, 8):
        ids, scores = model.similar_items([3, 0, 2, 1], n=n)

        expected_ids, expected_scores = top_k(dense[[3, 0, 2, 1]], n)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_array_equal(scores, expected_scores)
    assert ids[1].tolist()[:3] == [4, 1, 3]  # 0.9, then the tied 0.5s by lower column


def test_similar_items_on_a_fitted_model_equal_a_dense_top_k():
    model = ItemKNN(k_neighbors=5).fit(random_matrix())
    items = np.arange(model.n_items)
    dense = np.full((items.size, model.n_items), -np.inf, dtype=np.float32)
    stored = model.similarity.tocoo()
    dense[stored.row, stored.col] = stored.data

    ids, scores = model.similar_items(items, n=7)

    expected_ids, expected_scores = top_k(dense, 7)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(scores, expected_scores)


def test_item_similarities_equal_the_sliced_similarity_matrix():
    model = ItemKNN(k_neighbors=5).fit(random_matrix())
    items = np.array([3, 7, 7, 0, 39])
    targets = np.array([5, 0, 5, 12, 39, 1])  # a repeated target, as serving's unknown ones are

    block = model.item_similarities(items, targets)

    expected = model.similarity[items][:, targets].toarray()
    np.testing.assert_array_equal(block, expected)
    assert np.count_nonzero(block) > 0
    assert model.item_similarities(items, np.array([], dtype=np.int64)).shape == (5, 0)
