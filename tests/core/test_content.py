"""Content similarity: tokenizer, tf-idf, attribute blocks, search queries, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core import ALGORITHMS
from recommender.core.content import ContentModel, terms, tokenize

TEXTS = [
    "Red wool scarf. A warm knitted scarf in soft merino wool",
    "Blue wool scarf, knitted from merino wool",
    "Wool beanie hat, warm and knitted",
    "Trail running shoe with a grippy sole",
    "Road running shoe, light and cushioned",
    "Leather hiking boot with a grippy sole",
]
CATEGORIES = ["scarves", "scarves", "hats", "shoes", "shoes", "shoes"]
BRANDS = ["Knitco", "Knitco", "Knitco", "Stride", "Stride", None]
PRICES = [25.0, 27.0, 19.0, 120.0, 110.0, float("nan")]


@pytest.fixture(scope="module")
def user_items() -> sp.csr_matrix:
    return sp.csr_matrix((3, 6), dtype=np.float32)


@pytest.fixture(scope="module")
def model(user_items: sp.csr_matrix) -> ContentModel:
    return ContentModel(n_neighbors=3).fit(
        user_items,
        item_texts=TEXTS,
        item_categories=CATEGORIES,
        item_brands=BRANDS,
        item_prices=PRICES,
    )


def test_it_is_registered_as_content_and_asks_for_item_features():
    assert ALGORITHMS["content"] is ContentModel
    assert ContentModel.needs_item_features


def test_the_tokenizer_lowercases_splits_on_punctuation_and_drops_stop_words():
    assert tokenize("The Red-Wool Scarf, 2 pack!") == ["red", "wool", "scarf", "2", "pack"]


def test_the_tokenizer_keeps_accented_letters():
    assert tokenize("Crème brûlée_set") == ["crème", "brûlée", "set"]


def test_terms_add_bigrams_of_adjacent_kept_tokens():
    assert terms("running the shoe") == ["running", "shoe", "running shoe"]
    assert terms("running shoe", bigrams=False) == ["running", "shoe"]


def test_similar_items_share_words_and_category(model):
    ids, scores = model.similar_items([0, 3], n=2)

    assert ids[0].tolist() == [1, 2]
    assert ids[1, 0] == 4
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_the_stored_neighbours_are_the_top_cosines_without_the_item(model):
    row = model.similarity[0]

    assert 0 not in row.indices
    assert row.nnz <= 3
    np.testing.assert_allclose(
        np.sort(row.data)[::-1], model.similar_items([0], n=row.nnz)[1][0], rtol=1e-5
    )


def test_item_vectors_are_unit_length_and_vocabulary_is_saved_as_unicode(model):
    norms = np.sqrt(np.asarray(model.item_vectors.multiply(model.item_vectors).sum(axis=1)))

    np.testing.assert_allclose(norms.ravel(), 1.0, rtol=1e-5)
    assert model.vocabulary.dtype.kind == "U"
    assert "wool scarf" in set(model.vocabulary.tolist())
    assert model.idf.shape == model.vocabulary.shape and model.idf.dtype == np.float32


def test_rare_terms_get_a_higher_idf_than_common_ones(model):
    idf = dict(zip(model.vocabulary.tolist(), model.idf.tolist(), strict=True))

    assert idf["leather"] > idf["wool"]


def test_a_search_query_scores_items_by_text_cosine(model):
    scores = model.query_vector("merino wool scarf")

    assert scores.shape == (6,) and scores.dtype == np.float32
    assert set(np.argsort(-scores)[:2].tolist()) == {0, 1}
    assert scores[3] == 0


def test_search_returns_matching_items_only(model):
    ids, scores = model.search("grippy sole", n=4)

    assert set(ids[:2].tolist()) == {3, 5}
    assert ids[2:].tolist() == [-1, -1]
    assert scores[0] > 0 and np.all(np.isinf(scores[2:]))


def test_a_query_with_unknown_words_scores_zero(model):
    assert not model.query_vector("zzz qqq the").any()


def test_a_shopper_who_viewed_a_scarf_is_shown_scarves_and_hats(model):
    ids, _ = model.recommend_from_items([0], n=2, exclude=[0])

    assert set(ids.tolist()) <= {1, 2}


def test_explain_names_the_most_similar_item_the_shopper_touched(model):
    item, share = model.explain(1, [0, 3])

    assert item == 0
    assert 0.5 < share <= 1


def test_prices_in_the_same_band_make_otherwise_unrelated_items_similar(user_items):
    model = ContentModel(price_weight=1.0).fit(
        user_items, item_prices=[10.0, 10.5, 11.0, 500.0, 520.0, 0.0]
    )

    ids, _ = model.similar_items([0, 3], n=1)

    assert ids[:, 0].tolist() == [1, 4]
    assert model.similar_items([5], n=1)[0].tolist() == [[-1]]


def test_it_works_from_a_feature_matrix_alone(user_items):
    features = sp.csr_matrix(np.repeat(np.eye(2, dtype=np.float32), 3, axis=0))

    model = ContentModel().fit(user_items, item_features=features)

    assert set(model.similar_items([0], n=2)[0][0].tolist()) == {1, 2}
    assert not model.query_vector("anything").any()


def test_save_and_load_round_trip_keeps_search_and_similarity(model, tmp_path):
    loaded = ContentModel.load(model.save(tmp_path / "content.npz"))
    mapped = ContentModel.load_dir(model.save_dir(tmp_path / "content"))

    for copy in (loaded, mapped):
        np.testing.assert_array_equal(copy.vocabulary, model.vocabulary)
        np.testing.assert_array_equal(copy.query_vector("wool"), model.query_vector("wool"))
        np.testing.assert_array_equal(copy.similar_items([2])[0], model.similar_items([2])[0])
        assert copy.params == model.params


def test_fit_without_any_item_information_is_a_value_error(user_items):
    with pytest.raises(ValueError, match="needs item_texts"):
        ContentModel().fit(user_items)


def test_attributes_of_the_wrong_length_are_a_value_error(user_items):
    with pytest.raises(ValueError, match="item_brands has 2 entries for 6 items"):
        ContentModel().fit(user_items, item_texts=TEXTS, item_brands=["a", "b"])


def test_negative_weights_and_feature_values_are_value_errors(user_items):
    with pytest.raises(ValueError, match="weights"):
        ContentModel(text_weight=-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        ContentModel().fit(user_items, item_features=-np.ones((6, 2)))


def _random_catalog(seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    words = rng.zipf(1.3, size=(n, 10)) % 40
    lengths = rng.integers(0, 10, size=n)
    texts = [" ".join(f"w{w}" for w in words[i, : lengths[i]]) for i in range(n)]
    categories = np.array([f"c{c}" for c in rng.integers(0, 4, n)], dtype=object)
    brands = np.array([f"b{b}" for b in rng.integers(0, 3, n)], dtype=object)
    prices = np.exp(rng.normal(3.0, 1.0, size=n))
    unknown = rng.random((3, n)) < 0.1
    categories[unknown[0]], brands[unknown[1]], prices[unknown[2]] = None, None, np.nan
    return {
        "item_texts": texts,
        "item_categories": categories.tolist(),
        "item_brands": brands.tolist(),
        "item_prices": prices,
    }


def _assert_top_k_is_exact(model: ContentModel, k: int) -> None:
    """Each stored row is the item's top k positive cosines from the full V Vᵀ."""
    n = model.n_items
    cosine = (model.item_vectors @ model.item_vectors.T).toarray()
    np.fill_diagonal(cosine, 0.0)
    for item in range(n):
        row = model.similarity[item]
        positive = np.flatnonzero(cosine[item] > 0)
        expected = positive[np.argsort(-cosine[item, positive], kind="stable")][:k]
        assert row.nnz == expected.size
        np.testing.assert_allclose(
            np.sort(row.data), np.sort(cosine[item, expected]), rtol=1e-5, atol=1e-6
        )
        # Same items, except where a float tie with the k-th cosine decides.
        kth = cosine[item, expected[-1]] if expected.size else 0.0
        for other in set(row.indices.tolist()) ^ set(expected.tolist()):
            assert abs(cosine[item, other] - kth) < 1e-6


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("rare_flops", [0, 3, 10_000])
@pytest.mark.parametrize("scope_pairs", [4_000, 0])
def test_the_neighbour_search_matches_a_brute_force_dense_ranking(
    seed, rare_flops, scope_pairs, monkeypatch
):
    # rare_flops 0: every text column is bounded, none multiplied; 10_000: all multiplied.
    # scope_pairs 0: no label is scored group by group, every label set goes through lists.
    monkeypatch.setattr("recommender.core.content.neighbours._RARE_FLOPS_PER_ITEM", rare_flops)
    monkeypatch.setattr("recommender.core.content.neighbours._SCOPE_PAIRS_PER_ITEM", scope_pairs)
    monkeypatch.setattr("recommender.core.content.neighbours._ALL_DENSE_ITEMS", 0)
    n, k = 90, 6
    model = ContentModel(n_neighbors=k).fit(
        sp.csr_matrix((1, n), dtype=np.float32), **_random_catalog(seed, n)
    )

    _assert_top_k_is_exact(model, k)


@pytest.mark.parametrize(
    "keep",
    [
        ("item_texts",),
        ("item_texts", "item_prices"),
        ("item_categories", "item_brands", "item_prices"),
        ("item_texts", "item_brands"),
    ],
)
@pytest.mark.parametrize("k", [6, 30])
def test_the_neighbour_search_is_exact_with_some_blocks_missing_or_small_groups(
    keep, k, monkeypatch
):
    # k 30 is more than a category holds (~22 of 90): rows then start from the rare
    # candidates' lower bounds instead of a full exact group.
    monkeypatch.setattr("recommender.core.content.neighbours._RARE_FLOPS_PER_ITEM", 3)
    monkeypatch.setattr("recommender.core.content.neighbours._ALL_DENSE_ITEMS", 0)
    catalog = {name: values for name, values in _random_catalog(1, 90).items() if name in keep}
    model = ContentModel(n_neighbors=k).fit(sp.csr_matrix((1, 90), dtype=np.float32), **catalog)

    _assert_top_k_is_exact(model, k)


def test_the_exact_scope_is_the_heaviest_label_whose_groups_are_small_enough():
    from recommender.core.content.attributes import Attributes
    from recommender.core.content.neighbours import _scope_label

    wide = np.zeros(100, dtype=np.int64)  # one group of 100: 10,000 pairs
    narrow = np.arange(100) % 10  # ten groups of 10: 1,000 pairs
    attributes = Attributes(labels=[wide, narrow], weights=[0.5, 0.3], bands=None, price_weight=0)

    assert _scope_label(attributes, 100) == 0
    attributes.weights = [0.3, 0.5]
    assert _scope_label(attributes, 100) == 1
    attributes.weights = [0.5, 0.3]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("recommender.core.content.neighbours._SCOPE_PAIRS_PER_ITEM", 50)
        assert _scope_label(attributes, 100) == 1
        patch.setattr("recommender.core.content.neighbours._SCOPE_PAIRS_PER_ITEM", 5)
        assert _scope_label(attributes, 100) is None


def test_text_similarity_is_the_query_cosine_of_the_items_own_text(model):
    others = np.arange(len(TEXTS))

    for item, text in enumerate(TEXTS):
        cosines = model.text_similarity(item, others)

        np.testing.assert_allclose(cosines, model.query_vector(text), rtol=1e-5, atol=1e-6)
        assert cosines[item] == pytest.approx(1.0)
    assert model.text_similarity(3, np.array([0, 1, 2])).tolist() == [0.0, 0.0, 0.0]
