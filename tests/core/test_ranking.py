"""Top-k, diversity re-ranking (category caps, MMR), score blending and the Blend model."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core import ALGORITHMS
from recommender.core.blend import Blend
from recommender.core.knn import ItemKNN
from recommender.core.popularity import Popularity
from recommender.core.ranking import head_tail, top_k, top_k_row, top_k_shared
from recommender.core.rerank import blend, diversify, mmr, normalize_scores
from tests.core.test_contract import USER_ITEMS, item_features


def test_top_k_excludes_masked_items_and_pads_when_too_few_are_eligible():
    scores = np.array([[0.1, 0.9, 0.5]], dtype=np.float32)
    seen = sp.csr_matrix(np.array([[0, 1, 0]]))

    ids, top = top_k(scores, 4, exclude=seen, candidates=np.array([1, 2]))

    assert ids.tolist() == [[2, -1, -1, -1]]
    assert top[0, 0] == pytest.approx(0.5)


def test_top_k_with_no_candidates_pads_every_row_even_when_items_are_excluded():
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]], dtype=np.float32)
    seen = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1]]))

    ids, top = top_k(scores, 2, exclude=seen, candidates=np.array([], dtype=np.int64))

    assert ids.tolist() == [[-1, -1], [-1, -1]]
    assert top.tolist() == [[-np.inf, -np.inf], [-np.inf, -np.inf]]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_recommends_nothing_from_an_empty_candidate_set(name):
    cls = ALGORITHMS[name]
    fixtures = {"item_features": item_features()} if cls.needs_item_features else {}
    model = cls.for_contract_test(USER_ITEMS.copy(), **fixtures)

    ids, top = model.recommend([0, 6], USER_ITEMS, n=3, candidates=[])
    live_ids, live_top = model.recommend_from_items([1], n=3, candidates=[])

    assert ids.tolist() == [[-1, -1, -1], [-1, -1, -1]]
    assert np.isneginf(top).all()
    assert live_ids.tolist() == [-1, -1, -1]
    assert np.isneginf(live_top).all()


def test_top_k_excludes_stored_non_zero_entries_but_not_stored_zeros():
    scores = np.array([[0.9, 0.8, 0.7], [0.9, 0.8, 0.7]], dtype=np.float32)
    # Row 0 stores item 0 as 1 and item 1 as an explicit 0; row 1 stores item 2 as 0 only.
    seen = sp.csr_matrix(
        (np.array([1, 0, 0], np.float32), np.array([0, 1, 2]), np.array([0, 2, 3])),
        shape=(2, 3),
    )

    ids, _ = top_k(scores, 3, exclude=seen)
    candidate_ids, _ = top_k(scores, 3, exclude=seen, candidates=np.array([1, 2]))

    assert ids.tolist() == [[1, 2, -1], [0, 1, 2]]
    assert candidate_ids.tolist() == [[1, 2, -1], [1, 2, -1]]
    assert seen.nnz == 3  # the caller's matrix keeps its stored zeros


def test_recommend_does_not_treat_a_stored_zero_as_an_item_the_shopper_has_seen():
    model = Popularity().fit(sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0]], np.float32)))
    current = sp.csr_matrix(
        (np.array([1, 0], np.float32), np.array([0, 1]), np.array([0, 2, 2])), shape=(2, 3)
    )

    ids, _ = model.recommend([0], current, n=3)

    assert ids.tolist() == [[1, 2, -1]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_single_row_top_k_agrees_with_top_k_on_that_row(seed):
    rng = np.random.default_rng(seed)
    scores = rng.random(500).astype(np.float32)
    scores[rng.choice(500, 20, replace=False)] = -np.inf
    scores[rng.choice(500, 5, replace=False)] = np.nan
    scores[rng.choice(500, 3, replace=False)] = np.inf
    seen = rng.choice(500, 30, replace=False)
    candidates = rng.choice(500, 200, replace=False)
    mask = sp.csr_matrix((np.ones(30), (np.zeros(30, int), seen)), shape=(1, 500))

    for allowed in (None, candidates):
        ids, top = top_k_row(scores, 15, exclude=seen, candidates=allowed)

        expected_ids, expected_top = top_k(scores[None, :], 15, exclude=mask, candidates=allowed)
        assert ids.tolist() == expected_ids[0].tolist()
        np.testing.assert_array_equal(top, expected_top[0])


def test_the_single_row_top_k_pads_breaks_ties_by_index_and_leaves_scores_alone():
    scores = np.array([0.5, 0.9, 0.5, -np.inf], dtype=np.float32)
    before = scores.copy()

    ids, top = top_k_row(scores, 5, exclude=np.array([1]))

    assert ids.tolist() == [0, 2, -1, -1, -1]
    assert top.tolist() == [0.5, 0.5, -np.inf, -np.inf, -np.inf]
    np.testing.assert_array_equal(scores, before)


def test_diversify_caps_each_category_and_keeps_score_order():
    ids = np.array([0, 1, 2, 3, 4, 5])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    categories = np.array([7, 7, 7, 8, 8, 9])

    out, out_scores = diversify(ids, scores, categories, max_share=0.5, n=4)

    assert out.tolist() == [0, 1, 3, 4]
    assert out_scores.tolist() == pytest.approx([0.9, 0.8, 0.6, 0.5])


def test_diversify_backfills_rather_than_leave_slots_empty():
    ids = np.array([0, 1, 2, 3])
    scores = np.array([4.0, 3.0, 2.0, 1.0])

    out, _ = diversify(ids, scores, np.array([1, 1, 1, 1]), max_share=0.25, n=3)

    assert out.tolist() == [0, 1, 2]


def test_diversify_drops_padding_and_does_not_cap_uncategorised_items():
    ids = np.array([2, 0, -1, 1])
    scores = np.array([3.0, 2.0, -np.inf, 1.0])

    out, _ = diversify(ids, scores, np.array([-1, -1, 5]), max_share=0.1, n=4)

    assert out.tolist() == [2, 0, 1, -1]


def test_diversify_caps_a_category_at_the_floor_of_its_share_despite_float_rounding():
    # 0.29 * 100 is 28.999999999999996 in floating point; the cap is 29 slots.
    ids = np.arange(400)
    categories = ids // 100

    out, _ = diversify(ids, -ids.astype(np.float32), categories, max_share=0.29, n=100)

    assert np.bincount(categories[out]).tolist() == [29, 29, 29, 13]


def test_mmr_skips_a_near_duplicate_of_an_item_already_picked():
    ids = np.array([0, 1, 2])
    scores = np.array([1.0, 0.95, 0.5])
    similarity = np.array([[1, 0.99, 0], [0.99, 1, 0], [0, 0, 1]], dtype=np.float32)

    out, _ = mmr(ids, scores, similarity, 2, relevance_weight=0.5)
    plain, _ = mmr(ids, scores, similarity, 2, relevance_weight=1.0)

    assert out.tolist() == [0, 2]
    assert plain.tolist() == [0, 1]


def test_mmr_accepts_a_similarity_callable_and_a_sparse_matrix():
    ids = np.array([3, 1, 2])
    scores = np.array([0.9, 0.8, 0.1])
    dense = np.eye(4, dtype=np.float32)
    dense[3, 1] = dense[1, 3] = 1.0

    from_callable, _ = mmr(ids, scores, lambda a, b: dense[np.ix_(a, b)], 2, relevance_weight=0.3)
    from_sparse, _ = mmr(ids, scores, sp.csr_matrix(dense), 2, relevance_weight=0.3)

    assert from_callable.tolist() == from_sparse.tolist() == [3, 2]


def test_minmax_normalisation_maps_each_row_to_the_unit_interval():
    scores = np.array([[2.0, 4.0, 3.0], [5.0, 5.0, -np.inf]])

    out = normalize_scores(scores, "minmax")

    assert out[0].tolist() == [0.0, 1.0, 0.5]
    assert out[1].tolist() == [0.0, 0.0, -np.inf]


def test_rank_normalisation_ignores_the_size_of_an_outlier():
    scores = np.array([[1.0, 2.0, 1000.0, -np.inf]])

    out = normalize_scores(scores, "rank")

    assert out[0].tolist() == [0.0, 0.5, 1.0, -np.inf]


def test_blend_weights_models_on_a_common_scale():
    knn = np.array([[0.1, 0.3, 0.2]])
    popularity = np.array([[5000.0, 0.0, 10000.0]])

    combined = blend([knn, popularity], [1.0, 0.4])

    np.testing.assert_allclose(combined, [[0.2, 1.0, 0.9]], rtol=1e-6)


def test_blend_keeps_ineligible_items_ineligible_even_at_weight_zero():
    combined = blend([np.array([[1.0, 2.0]]), np.array([[-np.inf, 1.0]])], [1.0, 0.0])

    assert combined[0, 0] == -np.inf
    assert np.isfinite(combined[0, 1])


def test_blend_rejects_mismatched_weights():
    with pytest.raises(ValueError, match="one weight per score array"):
        blend([np.zeros((1, 2))], [1.0, 2.0])


def test_the_blend_model_adds_popularity_to_item_neighbours():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]], float))

    model = Blend([Popularity(), ItemKNN(k_neighbors=3)], weights=[0.5, 1.0]).fit(X)

    scores = model.score_from_rows(X[[0]])
    expected = blend(
        [model.components[0].score_from_rows(X[[0]]), model.components[1].score_from_rows(X[[0]])],
        [0.5, 1.0],
    )
    np.testing.assert_allclose(scores, expected)
    assert model.params["components"] == ["popularity", "item_knn"]


def test_the_blend_request_path_min_max_scales_each_component_and_adds_them():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]], float))
    model = Blend([Popularity(), ItemKNN(k_neighbors=3)], weights=[0.5, 1.0]).fit(X)

    scores = model.score_items([1, 2], [1.0, 3.0])

    parts = [c.score_items([1, 2], [1.0, 3.0]) for c in model.components]
    minmax = [(p - p.min()) / (p.max() - p.min()) for p in parts]
    np.testing.assert_allclose(scores, 0.5 * minmax[0] + minmax[1], rtol=1e-6)


class Unscorable(Popularity):
    """A component that fails if it is ever asked for scores."""

    def score_items(self, item_ids, weights=None):
        raise AssertionError("a zero-weight component was scored")

    def score_from_rows(self, rows):
        raise AssertionError("a zero-weight component was scored")


def test_the_blend_never_scores_a_component_whose_weight_is_zero():
    X = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]], float))
    model = Blend([Unscorable(), ItemKNN(k_neighbors=3)], weights=[0.0, 1.0]).fit(X)

    ids, _ = model.recommend_from_items([0], n=2, exclude=[0])
    batch = model.score_from_rows(X[[0]])

    assert ids[0] == 1
    assert batch.shape == (1, 4)


def test_the_blend_model_refuses_components_fitted_on_different_catalogues():
    small = Popularity().fit(sp.csr_matrix(np.ones((2, 3))))
    large = Popularity().fit(sp.csr_matrix(np.ones((2, 4))))

    with pytest.raises(ValueError, match="disagree on the number of items"):
        Blend([small, large])


def test_head_tail_fills_the_top_slots_from_the_head_and_the_rest_from_the_tail():
    head = np.array([[9.0, 8.0, 7.0, 6.0, 0.0, 0.0]])
    tail = np.array([[5.0, 0.0, 0.0, 1.0, 3.0, 2.0]])  # its best, item 0, is already placed

    ids, scores = head_tail(head, tail, n=4, n_head=2)

    assert ids.tolist() == [[0, 1, 4, 5]]
    assert scores.tolist() == [[4.0, 3.0, 2.0, 1.0]]


def test_head_tail_respects_exclusions_and_backfills_a_short_head_from_the_tail():
    head = np.array([[1.0, -np.inf, -np.inf, -np.inf], [4.0, 3.0, 2.0, 1.0]])
    tail = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 1], [1, 0, 0, 0]], dtype=np.float32))

    ids, scores = head_tail(head, tail, n=4, n_head=2, exclude=exclude)

    assert ids.tolist() == [[0, 2, 1, -1], [1, 2, 3, -1]]
    assert scores[:, -1].tolist() == [-np.inf, -np.inf]


@pytest.mark.parametrize("n_head", [0, 3])
def test_head_tail_with_an_empty_or_full_head_is_top_k_of_one_model(n_head):
    rng = np.random.default_rng(0)
    head, tail = rng.random((3, 12)), rng.random((3, 12))
    only = tail if n_head == 0 else head

    ids, _ = head_tail(head, tail, n=3, n_head=n_head)

    assert ids.tolist() == top_k(only, 3)[0].tolist()


def test_head_tail_refuses_more_head_slots_than_the_list_has():
    with pytest.raises(ValueError, match="n_head"):
        head_tail(np.zeros(4), np.zeros(4), n=2, n_head=3)


def test_top_k_shared_ranks_like_top_k_on_a_broadcast_score_without_the_dense_block():
    rng = np.random.default_rng(4)
    for trial in range(50):
        n_rows, n_items = int(rng.integers(1, 20)), int(rng.integers(1, 60))
        scores = rng.permutation(n_items).astype(np.float32)  # no ties: one right answer
        scores[rng.random(n_items) < 0.2] = -np.inf  # items the model cannot score
        exclude = sp.random(n_rows, n_items, density=rng.random(), random_state=trial, format="csr")
        n = int(rng.integers(1, 15))

        shared = top_k_shared(scores, n, exclude=exclude)

        dense = top_k(np.broadcast_to(scores, (n_rows, n_items)), n, exclude=exclude)
        np.testing.assert_array_equal(shared[0], dense[0])
        np.testing.assert_array_equal(shared[1], dense[1])


def test_top_k_shared_breaks_ties_by_lower_index_and_pads_when_everything_is_excluded():
    scores = np.array([1.0, 3.0, 3.0, 2.0], dtype=np.float32)
    exclude = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 1]]))

    ids, top = top_k_shared(scores, 3, exclude=exclude)

    assert ids.tolist() == [[1, 2, 3], [2, 3, 0], [-1, -1, -1]]
    assert top[2].tolist() == [-np.inf] * 3
