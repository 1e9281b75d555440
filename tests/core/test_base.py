"""The shared checks of ``recommender.core.base``: input validation every algorithm relies on."""

import numpy as np
import scipy.sparse as sp

from recommender.core import EASE, ItemKNN, Popularity
from recommender.core.base import check_user_items


def with_repeats() -> sp.csr_matrix:
    """Shopper 0 has item 0 stored twice, shopper 1 items 0 and 1 once: not canonical CSR."""
    data = np.ones(4, dtype=np.float32)
    return sp.csr_matrix((data, np.array([0, 0, 0, 1]), np.array([0, 2, 4])), shape=(2, 2))


def test_check_user_items_sums_a_repeated_user_item_entry_without_touching_the_input():
    X = with_repeats()
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())

    checked = check_user_items(X)

    assert checked.has_canonical_format
    assert checked.toarray().tolist() == [[2.0, 0.0], [1.0, 1.0]]
    for array, original in zip((X.data, X.indices, X.indptr), before, strict=True):
        np.testing.assert_array_equal(array, original)


def test_popularity_counts_a_shopper_once_even_when_an_entry_is_repeated():
    model = Popularity().fit(with_repeats())

    assert model.item_scores.tolist() == [2.0, 1.0]


def test_item_knn_cosine_never_exceeds_one_with_repeated_entries():
    Y = sp.csr_matrix((np.ones(3, np.float32), np.array([0, 0, 1]), np.array([0, 3])), shape=(1, 2))

    ids, scores = ItemKNN().fit(Y).similar_items([1], n=1)

    assert ids.tolist() == [[0]]
    np.testing.assert_allclose(scores, [[1.0]], rtol=1e-6)


def two_blocks() -> sp.csr_matrix:
    return sp.csr_matrix(np.kron(np.eye(2), np.ones((5, 4))).astype(np.float32))


def test_load_reads_a_save_dir_directory_and_memory_maps_it_when_asked(tmp_path):
    model = EASE(regularization=1.0).fit(two_blocks())
    directory = model.save_dir(tmp_path / "ease")

    mapped = EASE.load(directory, mmap_mode="r")
    in_memory = EASE.load(directory)

    assert isinstance(mapped.item_weights, np.memmap)
    assert not isinstance(in_memory.item_weights, np.memmap)
    for loaded in (mapped, in_memory):
        np.testing.assert_array_equal(loaded.item_weights, model.item_weights)
