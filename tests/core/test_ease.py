"""EASE: closed form against the paper's formula, zero diagonal, limits, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg.lapack
import scipy.sparse as sp

from recommender.core import ALGORITHMS, FitError, ease
from recommender.core.ease import EASE, _spd_inverse


def two_clusters(seed: int = 0) -> sp.csr_matrix:
    """40 users × 20 items: the first 20 users use items 0–9, the rest items 10–19, each
    skipping three items of their cluster."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((40, 20), dtype=np.float32)
    for user in range(40):
        base = 0 if user < 20 else 10
        dense[user, base + rng.choice(10, size=7, replace=False)] = 1.0
    return sp.csr_matrix(dense)


@pytest.fixture(scope="module")
def clusters() -> sp.csr_matrix:
    return two_clusters()


@pytest.fixture(scope="module")
def model(clusters: sp.csr_matrix) -> EASE:
    return EASE(regularization=10.0).fit(clusters)


def test_it_is_registered_as_ease():
    assert ALGORITHMS["ease"] is EASE


def test_the_diagonal_of_b_is_zero(model):
    assert np.all(np.diag(model.item_weights) == 0)


def test_b_matches_steck_closed_form(model, clusters):
    X = clusters.toarray().astype(np.float64)
    P = np.linalg.inv(X.T @ X + 10.0 * np.eye(20))

    expected = np.eye(20) - P / np.diag(P)[None, :]

    np.testing.assert_allclose(model.item_weights, expected, atol=1e-5)
    assert model.item_weights.dtype == np.float32


def test_it_recommends_items_from_the_users_own_cluster(model, clusters):
    ids, _ = model.recommend(np.arange(40), clusters, n=3)

    assert np.all(ids[:20] < 10)
    assert np.all(ids[20:] >= 10)


def test_real_time_scores_are_the_row_times_b(model):
    row = model.items_to_row([0, 3], [1.0, 2.0])

    scores = model.score_from_rows(row)[0]

    np.testing.assert_allclose(scores, model.item_weights[0] + 2 * model.item_weights[3], rtol=1e-6)


def test_explain_picks_the_item_with_the_largest_weighted_b(model):
    history, weights = np.array([1, 2, 15]), np.array([1.0, 1.0, 1.0])

    item, share = model.explain(0, history, weights)

    contributions = weights * model.item_weights[history, 0]
    assert item == history[np.argmax(contributions)]
    assert share == pytest.approx(contributions.max() / np.abs(contributions).sum(), rel=1e-5)


def test_similar_items_follow_rows_of_b_and_skip_the_item(model):
    ids, scores = model.similar_items([4], n=3)

    assert 4 not in ids[0]
    assert np.all(ids[0] < 10)
    np.testing.assert_allclose(scores[0], np.sort(model.item_weights[4])[::-1][:3], rtol=1e-6)


def test_it_refuses_catalogues_above_max_items(clusters):
    with pytest.raises(ValueError, match="max_items"):
        EASE(max_items=10).fit(clusters)


def test_an_item_nobody_touched_with_zero_regularization_is_a_fit_error():
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0]], dtype=np.float32))

    with pytest.raises(FitError):
        EASE(regularization=0.0).fit(matrix)


def test_it_rejects_negative_regularization_and_dense_input():
    with pytest.raises(ValueError, match="regularization"):
        EASE(regularization=-1.0)
    with pytest.raises(ValueError, match=r"scipy\.sparse"):
        EASE().fit(np.ones((2, 2)))


def test_save_and_load_round_trip_gives_identical_weights(model, tmp_path):
    loaded = EASE.load(model.save(tmp_path / "ease.npz"))
    mapped = EASE.load_dir(model.save_dir(tmp_path / "ease"))

    np.testing.assert_array_equal(loaded.item_weights, model.item_weights)
    assert isinstance(mapped.item_weights, np.memmap)
    np.testing.assert_array_equal(
        mapped.recommend_from_items([0, 1])[0], model.recommend_from_items([0, 1])[0]
    )
    assert loaded.params == model.params


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_inverse_is_computed_in_the_gram_matrix_own_buffer_in_either_memory_order(
    clusters, order
):
    # XᵀX of a CSR matrix comes back CSC, whose dense form is Fortran-ordered; a copy of it
    # is n² floats more at the peak of a fit (3.2 GB at 20k items).
    gram = (clusters.T @ clusters).toarray().astype(np.float64) + 10.0 * np.eye(20)
    G = np.asarray(gram, order=order)
    expected = np.linalg.inv(gram)

    P = _spd_inverse(G)

    assert np.shares_memory(P, G)
    np.testing.assert_allclose(P, expected, rtol=1e-10, atol=1e-12)


def spd_gram(n_items: int, *, seed: int = 0, regularization: float = 1.0) -> np.ndarray:
    X = sp.random(4 * n_items, n_items, density=0.03, random_state=seed, format="csr")
    gram = (X.T @ X).toarray()
    gram[np.diag_indices(n_items)] += regularization
    return gram


@pytest.mark.parametrize("order", ["C", "F"])
def test_past_the_lapack_limit_the_inverse_is_built_by_blocks_in_the_same_buffer(
    monkeypatch, order
):
    # Three levels of blocks, odd sizes: 301 -> 150 + 151 -> 75 + 75, 75 + 76.
    monkeypatch.setattr(ease, "LAPACK_MAX_ITEMS", 80)
    handed: list[int] = []
    potrf = scipy.linalg.lapack.dpotrf
    monkeypatch.setattr(
        scipy.linalg.lapack, "dpotrf", lambda a, **kw: handed.append(len(a)) or potrf(a, **kw)
    )
    gram = spd_gram(301)
    G = np.array(gram, order=order)

    P = ease._spd_inverse(G)

    assert np.shares_memory(P, G)
    np.testing.assert_allclose(P, np.linalg.inv(gram), rtol=1e-9, atol=1e-12)
    assert sorted(handed) == [75, 75, 75, 76]


def test_a_singular_gram_is_a_fit_error_past_the_lapack_limit_too(monkeypatch):
    monkeypatch.setattr(ease, "LAPACK_MAX_ITEMS", 8)
    gram = spd_gram(20, regularization=0.0)
    gram[15, :] = gram[:, 15] = 0.0  # an item nobody touched, with λ = 0

    with pytest.raises(FitError, match="not positive definite"):
        ease._spd_inverse(gram)


def test_below_the_lapack_limit_the_fit_is_unchanged_by_the_block_path(monkeypatch, clusters):
    direct = EASE(regularization=10.0).fit(clusters).item_weights
    monkeypatch.setattr(ease, "LAPACK_MAX_ITEMS", 6)

    blocked = EASE(regularization=10.0).fit(clusters).item_weights

    np.testing.assert_allclose(blocked, direct, rtol=1e-5, atol=1e-6)


def planted_head_and_tail(seed: int = 0) -> sp.csr_matrix:
    """300 users × 60 items in two taste groups (items 0–29, 30–59): each user touches
    popular items of their group often and its long tail (the last 10 of it) rarely."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((300, 60), dtype=np.float32)
    for user in range(300):
        base = 0 if user < 150 else 30
        head = base + rng.choice(20, size=6, replace=False)
        dense[user, head] = 1.0
        if rng.random() < 0.3:
            dense[user, base + 20 + rng.integers(10)] = 1.0
    return sp.csr_matrix(dense)


def test_below_the_dense_limit_it_is_full_ease_exactly(clusters):
    full = EASE(regularization=10.0).fit(clusters)

    at_limit = EASE(regularization=10.0, dense_items=20).fit(clusters)

    np.testing.assert_array_equal(at_limit.item_weights, full.item_weights)
    np.testing.assert_array_equal(at_limit.input_items, np.arange(20))


def test_past_the_dense_limit_each_column_regresses_on_the_most_supported_items():
    X = planted_head_and_tail()
    support = np.diff(X.tocsc().indptr)
    model = EASE(regularization=5.0, dense_items=40).fit(X)

    head = np.sort(np.argsort(-support, kind="stable")[:40])
    np.testing.assert_array_equal(model.input_items, head)
    A = X.toarray().astype(np.float64)
    P = np.linalg.inv(A[:, head].T @ A[:, head] + 5.0 * np.eye(40))
    # A head column: EASE on the head alone; any other column: a ridge regression on the head.
    expected = P @ (A[:, head].T @ A)
    expected[:, head] = -P / np.diag(P)[None, :]
    expected[np.arange(40), head] = 0.0
    np.testing.assert_allclose(model.item_weights, expected, atol=1e-5)
    assert model.item_weights.shape == (40, 60)


@pytest.mark.parametrize("threads", [1, 3])
def test_the_tail_filled_by_blocks_on_several_threads_is_the_same_ridge_regression(
    monkeypatch, threads
):
    X = planted_head_and_tail()
    one_block = EASE(regularization=5.0, dense_items=40, num_threads=1).fit(X)
    # Three targets per block: the 20 tail columns are filled by 7 blocks, out of order.
    monkeypatch.setattr(ease, "_TARGET_COLUMNS", 3)

    blocked = EASE(regularization=5.0, dense_items=40, num_threads=threads).fit(X)

    np.testing.assert_array_equal(blocked.item_weights, one_block.item_weights)
    assert blocked.params["num_threads"] == threads


def test_past_the_dense_limit_it_still_recommends_the_planted_group_and_its_tail():
    X = planted_head_and_tail()
    model = EASE(regularization=5.0, dense_items=40).fit(X)
    tail = np.setdiff1d(np.arange(60), model.input_items)

    ids, _ = model.recommend(np.arange(300), X, n=5)
    tail_ids, _ = model.similar_items(tail, n=3)

    assert np.all(ids[:150] < 30) and np.all(ids[150:] >= 30)
    # An item with no row of its own is still similar to its group (through its column).
    assert np.all((tail_ids < 30) == (tail[:, None] < 30))


def test_a_head_model_round_trips_and_scores_like_its_real_time_path(tmp_path):
    X = planted_head_and_tail()
    model = EASE(regularization=5.0, dense_items=40).fit(X)
    tail_item = int(np.setdiff1d(np.arange(60), model.input_items)[0])
    items, weights = [int(model.input_items[0]), tail_item], [1.0, 2.0]

    loaded = EASE.load(model.save(tmp_path / "ease.npz"))

    np.testing.assert_array_equal(loaded.item_weights, model.item_weights)
    row = sp.csr_matrix((weights, ([0, 0], items)), shape=(1, 60))
    np.testing.assert_allclose(loaded.score_items(items, weights), model.score_from_rows(row)[0])
    assert loaded.item_similarity(items[0], np.array([tail_item]))[0] == 0.0


def test_an_artifact_saved_before_input_items_still_loads(model, tmp_path):
    path = model.save(tmp_path / "ease.npz")
    with np.load(path, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files if name != "input_items"}
    np.savez(tmp_path / "old.npz", **arrays)

    loaded = EASE.load(tmp_path / "old.npz")

    np.testing.assert_array_equal(loaded.input_items, np.arange(20))
    np.testing.assert_array_equal(loaded.item_weights, model.item_weights)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"regularization": -1.0}, "regularization must be finite and >= 0"),
        ({"max_items": 0}, "max_items must be >= 1"),
        ({"dense_items": 0}, "dense_items must be >= 1"),
        ({"num_threads": 0}, "num_threads must be >= 1"),
    ],
)
def test_bad_parameters_are_refused_naming_them(params, message):
    with pytest.raises(ValueError, match=message):
        EASE(**params)
