"""The protocol every registered algorithm follows, checked on a tiny matrix with a known answer.

Parametrised over ``recommender.core.ALGORITHMS``, so a newly registered algorithm is checked
without touching this file. Each class builds its fitted instance with
``for_contract_test(user_items, **fixtures)``; it receives ``item_features`` when it declares
``needs_item_features``, and ``personalized = False`` skips the checks that need a shopper.

The matrix: items 0-3 form cluster A, items 4-7 cluster B. Shoppers 0-4 use A, 5-9 use B,
and each misses exactly one item of their own cluster (shopper 0 misses item 0, shopper 6
misses item 6), which is therefore their right first recommendation. Models declaring
``explicit_ratings`` read values as ratings: they get 5 for each of those interactions plus a
rating of 1 for one item of the other cluster, since all-positive ratings carry no signal.
Keep contract hyper-parameters modest (few factors, some regularisation): a model that can
memorise an 8-item matrix will not generalise to the missing item.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core import ALGORITHMS
from recommender.core.ranking import top_k

N_USERS, N_ITEMS = 10, 8
CLUSTER_A, CLUSTER_B = {0, 1, 2, 3}, {4, 5, 6, 7}


def two_clusters() -> sp.csr_matrix:
    dense = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    for user in range(N_USERS):
        first = 0 if user < 5 else 4
        dense[user, first : first + 4] = 1.0
        dense[user, first + user % 4] = 0.0
    return sp.csr_matrix(dense)


def item_features() -> sp.csr_matrix:
    """One-hot cluster plus a faint per-item feature, so no two items are identical."""
    cluster = np.repeat(np.eye(2, dtype=np.float32), 4, axis=0)
    return sp.csr_matrix(np.hstack([cluster, 0.1 * np.eye(N_ITEMS, dtype=np.float32)]))


def ratings() -> sp.csr_matrix:
    dense = 5.0 * two_clusters().toarray()
    for user in range(N_USERS):
        other = 4 if user < 5 else 0
        dense[user, other + user % 4] = 1.0
    return sp.csr_matrix(dense)


USER_ITEMS = two_clusters()
RATINGS = ratings()


def matrix_for(model) -> sp.csr_matrix:
    return RATINGS if model.explicit_ratings else USER_ITEMS


@pytest.fixture(scope="module", params=sorted(ALGORITHMS))
def model(request):
    cls = ALGORITHMS[request.param]
    fixtures = {"item_features": item_features()} if cls.needs_item_features else {}
    matrix = RATINGS if cls.explicit_ratings else USER_ITEMS
    return cls.for_contract_test(matrix.copy(), **fixtures)


@pytest.fixture
def personalized(model):
    if not model.personalized:
        pytest.skip(f"{model.name} does not personalise")
    return model


def seen(matrix: sp.csr_matrix, user: int) -> set[int]:
    return set(matrix[user].indices.tolist())


def test_it_recommends_the_missing_item_of_the_shoppers_own_cluster_first(personalized):
    X = matrix_for(personalized)

    ids, _ = personalized.recommend([0, 6], X, n=2)

    assert ids[:, 0].tolist() == [0, 6]


def test_a_non_personalised_model_ranks_alike_for_every_shopper(model):
    if model.personalized:
        pytest.skip(f"{model.name} personalises")
    X = matrix_for(model)

    ids, _ = model.recommend([0, 6], X, n=N_ITEMS, exclude_seen=False)

    assert ids[0].tolist() == ids[1].tolist()
    # Items 0 and 5 are each missed by two shoppers: the least popular.
    assert set(ids[0, -2:].tolist()) == {0, 5}


def test_it_returns_int64_ids_and_float32_scores_best_first(model):
    X = matrix_for(model)

    ids, scores = model.recommend(np.array([0, 5]), X, n=3)

    assert ids.shape == scores.shape == (2, 3)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_it_excludes_items_the_shopper_has_seen(model):
    X = matrix_for(model)

    ids, _ = model.recommend([0], X, n=N_ITEMS)
    everything, _ = model.recommend([0], X, n=N_ITEMS, exclude_seen=False)

    returned = set(ids[0][ids[0] >= 0].tolist())
    assert not returned & seen(X, 0)
    assert returned == set(range(N_ITEMS)) - seen(X, 0)
    assert set(everything[0].tolist()) == set(range(N_ITEMS))


def test_it_only_returns_candidates_when_given(model):
    X = matrix_for(model)

    ids, scores = model.recommend([0], X, n=3, candidates=[6, 5])

    assert set(ids[0, :2].tolist()) == {5, 6}
    assert ids[0, 2] == -1 and scores[0, 2] == -np.inf


def test_it_scores_a_shopper_unseen_at_training_from_recent_items(personalized):
    ids, scores = personalized.recommend_from_items([1, 2], [4.0, 5.0], n=2, exclude=[1, 2])

    assert ids.shape == scores.shape == (2,)
    assert set(ids.tolist()) == {0, 3}


def test_the_dense_request_path_scores_like_the_sparse_row_path(model):
    items, weights = [1, 2, 6, 2], [4.0, 1.0, 0.5, 2.0]  # item 2 twice: its weights add up

    dense = model.score_items(items, weights)

    sparse = model.score_from_rows(model.items_to_row(items, weights))[0]
    assert dense.shape == (N_ITEMS,) and dense.dtype == np.float32
    np.testing.assert_allclose(dense, sparse, rtol=1e-5, atol=1e-6)


def test_the_request_path_ranks_like_top_k_over_the_sparse_row(model):
    items, weights = [1, 6], [5.0, 2.0]
    row = model.items_to_row(items, weights)
    expected, _ = top_k(model.score_from_rows(row), 4, exclude=row, candidates=np.arange(1, 8))

    ids, _ = model.recommend_from_items(items, weights, n=4, exclude=items, candidates=range(1, 8))

    assert ids.tolist() == expected[0].tolist()


def test_it_scores_a_shopper_added_to_the_matrix_after_training(personalized):
    X = matrix_for(personalized)

    new_row = sp.csr_matrix(np.array([[0, 0, 0, 0, 5, 5, 0, 5]], dtype=np.float32))
    grown = sp.vstack([X, new_row]).tocsr()

    ids, _ = personalized.recommend([N_USERS], grown, n=1)

    assert ids.tolist() == [[6]]


def test_it_finds_similar_items_in_the_same_cluster_never_the_item_itself(model):
    ids, scores = model.similar_items([1, 6], n=3)

    assert ids.shape == scores.shape == (2, 3)
    assert 1 not in ids[0] and 6 not in ids[1]
    if model.personalized:
        assert set(ids[0].tolist()) == CLUSTER_A - {1}
        assert set(ids[1].tolist()) == CLUSTER_B - {6}


def test_explain_names_the_shoppers_item_behind_a_recommendation(model):
    item, share = model.explain(0, [1, 5], [5.0, 5.0])

    if model.personalized:
        assert item == 1
        assert 0 < share <= 1
    else:
        assert (item, share) == (-1, 0.0)


def test_batched_item_similarities_match_one_target_at_a_time(model):
    items, targets = np.array([1, 5, 2]), np.array([0, 6, 3, 0])
    try:
        expected = np.column_stack([model.item_similarity(t, items) for t in targets])
    except NotImplementedError:
        with pytest.raises(NotImplementedError):
            model.item_similarities(items, targets)
        return

    batched = model.item_similarities(items, targets)

    assert batched.shape == (3, 4) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, expected, rtol=1e-5, atol=1e-6)
    assert model.item_similarities(items, []).shape == (3, 0)
    with pytest.raises(ValueError, match="target_ids"):
        model.item_similarities(items, [model.n_items])


def test_save_and_load_round_trip_without_pickle(model, tmp_path):
    X = matrix_for(model)

    path = model.save(tmp_path / "model.npz")
    loaded = ALGORITHMS[model.name].load(path)
    directory = model.save_dir(tmp_path / "model")
    mapped = ALGORITHMS[model.name].load_dir(directory)

    with np.load(path, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)
    expected = model.recommend(np.arange(N_USERS), X, n=4)
    for copy in (loaded, mapped):
        assert copy.params == model.params
        for got, want in zip(copy.recommend(np.arange(N_USERS), X, n=4), expected, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            copy.recommend_from_items([1, 6], n=4)[0], model.recommend_from_items([1, 6], n=4)[0]
        )


def test_loading_another_algorithms_artifact_is_refused(model, tmp_path):
    path = model.save(tmp_path / "model.npz")
    other = next(cls for name, cls in ALGORITHMS.items() if name != model.name)

    with pytest.raises(ValueError, match=model.name):
        other.load(path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, X: m.fit(X.toarray()), "scipy.sparse"),
        (lambda m, X: m.recommend([0], X[:, :5]), "item columns"),
        (lambda m, X: m.recommend([N_USERS], X), "user_ids"),
        (lambda m, X: m.recommend([0], X, n=0), "n must be"),
        (lambda m, X: m.recommend_from_items([N_ITEMS]), "item_ids"),
        (lambda m, X: m.recommend_from_items([1, 2], weights=[1.0]), "weights"),
        (lambda m, X: m.recommend([0], X, candidates=[-1]), "candidates"),
        (lambda m, X: m.similar_items([N_ITEMS]), r"\[0, 8\)"),
    ],
)
def test_bad_input_raises_a_value_error_saying_what_is_wrong(model, call, message):
    X = matrix_for(model)

    with pytest.raises(ValueError, match=message):
        call(model, X)


def repeated(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same matrix with every value stored as two halves, columns in descending order."""
    counts = np.diff(matrix.indptr)
    indptr = np.concatenate([[0], np.cumsum(2 * counts)])
    indices, data = [], []
    for user in range(matrix.shape[0]):
        row = matrix[user]
        indices.append(np.repeat(row.indices[::-1], 2))
        data.append(np.repeat(row.data[::-1] / 2, 2))
    return sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), indptr), shape=matrix.shape
    )


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_repeated_entry_counts_as_its_sum_and_the_input_is_left_alone(name):
    cls = ALGORITHMS[name]
    fixtures = {"item_features": item_features()} if cls.needs_item_features else {}
    X = RATINGS if cls.explicit_ratings else USER_ITEMS
    doubled = repeated(X)
    before = (doubled.data.copy(), doubled.indices.copy(), doubled.indptr.copy())

    model = cls.for_contract_test(doubled, **fixtures)
    expected = cls.for_contract_test(X.copy(), **fixtures)

    users = np.arange(N_USERS)
    np.testing.assert_allclose(
        model.score_users(users, X), expected.score_users(users, X), rtol=1e-4, atol=1e-5
    )
    for array, original in zip(
        (doubled.data, doubled.indices, doubled.indptr), before, strict=True
    ):
        np.testing.assert_array_equal(array, original)


@pytest.mark.parametrize(
    ("item_id", "item_ids", "weights", "message"),
    [
        (-1, [1, 5], [5.0, 5.0], "item_id"),
        (N_ITEMS, [1, 5], [5.0, 5.0], "item_id"),
        (1.5, [1, 5], [5.0, 5.0], "item_id"),
        ([0, 1], [1, 5], [5.0, 5.0], "item_id"),
        (0, [N_ITEMS], None, "item_ids"),
        (0, [1], [-5.0], "weights must be non-negative"),
        (0, [1, 5], [5.0], "weights"),
        (0, [1], [np.nan], "weights"),
    ],
)
def test_explain_refuses_a_bad_request_with_a_value_error_naming_it(
    personalized, item_id, item_ids, weights, message
):
    with pytest.raises(ValueError, match=message):
        personalized.explain(item_id, item_ids, weights)


def test_a_negative_weight_is_refused_on_the_sparse_row_path_as_on_the_dense_one(model):
    with pytest.raises(ValueError, match="non-negative"):
        model.items_to_row([1], [-1.0])
    with pytest.raises(ValueError, match="non-negative"):
        model.score_items([1], [-1.0])


def test_item_similarity_refuses_an_item_id_out_of_range(model):
    try:
        model.item_similarity(0, np.array([1]))
    except NotImplementedError:
        pytest.skip(f"{model.name} defines no item similarity")

    for item_id in (-1, N_ITEMS):
        with pytest.raises(ValueError, match="item_id"):
            model.item_similarity(item_id, np.array([1]))
