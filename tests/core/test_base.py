"""The shared checks of ``recommender.core.checks``: input validation every algorithm relies on."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core import ALS, EASE, ItemKNN, Popularity
from recommender.core.checks import check_user_items


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


def tamper(directory, **changes) -> None:
    meta = json.loads((directory / "meta.json").read_text())
    (directory / "meta.json").write_text(json.dumps({**meta, **changes}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_items": 20}, r"'similarity' has shape \(8, 8\), the metadata implies \(20, 20\)"),
        ({"zzz": 1}, r"parameters item_knn does not take: \['zzz'\]"),
        ({"n_users": "ten"}, "n_users must be a non-negative integer"),
        ({"k_neighbors": [5]}, "k_neighbors"),
    ],
)
def test_a_tampered_meta_json_is_refused_naming_the_artifact_and_the_problem(
    tmp_path, changes, message
):
    directory = ItemKNN(k_neighbors=5).fit(two_blocks()).save_dir(tmp_path / "knn")

    tamper(directory, **changes)

    with pytest.raises(ValueError, match=message) as raised:
        ItemKNN.load_dir(directory)
    assert str(directory) in str(raised.value)


def test_metadata_disagreeing_with_factor_shapes_is_refused(tmp_path):
    directory = ALS(factors=4, num_threads=1).fit(two_blocks()).save_dir(tmp_path / "als")

    tamper(directory, n_users=3)

    with pytest.raises(ValueError, match="'user_factors' has shape"):
        ALS.load_dir(directory)


def test_a_meta_json_that_is_not_json_is_refused_naming_the_file(tmp_path):
    directory = EASE(regularization=1.0).fit(two_blocks()).save_dir(tmp_path / "ease")

    (directory / "meta.json").write_text("{not json")

    with pytest.raises(ValueError, match=r"meta\.json is not valid JSON"):
        EASE.load_dir(directory)


@pytest.mark.parametrize("keep", [0, 0.5])
def test_an_empty_or_truncated_archive_is_refused_naming_the_file(tmp_path, keep):
    path = EASE(regularization=1.0).fit(two_blocks()).save(tmp_path / "ease.npz")
    content = path.read_bytes()

    path.write_bytes(content[: int(len(content) * keep)])

    with pytest.raises(ValueError, match="not a readable archive") as raised:
        EASE.load(path)
    assert str(path) in str(raised.value)


def test_a_truncated_npy_in_a_directory_is_refused_naming_the_file(tmp_path):
    directory = EASE(regularization=1.0).fit(two_blocks()).save_dir(tmp_path / "ease")
    weights = directory / "item_weights.npy"

    weights.write_bytes(weights.read_bytes()[:100])

    with pytest.raises(ValueError, match=r"item_weights\.npy"):
        EASE.load_dir(directory)
