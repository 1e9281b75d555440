"""Popularity, trending and per-segment popularity."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.popularity import (
    Popularity,
    Trending,
    popular_by_item_group,
    popular_by_user_segment,
)


def matrix(rows):
    return sp.csr_matrix(np.array(rows, dtype=np.float32))


def test_it_counts_distinct_shoppers_not_repeated_clicks():
    X = matrix([[100, 1, 0], [0, 1, 0], [0, 1, 1]])

    model = Popularity().fit(X)

    assert model.item_scores.tolist() == [1, 3, 1]
    assert model.recommend([0], X, n=2)[0].tolist() == [[2, -1]]


def test_trending_caps_each_shoppers_contribution_and_favours_recent_weight():
    # Item 0: one shopper with a huge weight; item 1: three recent shoppers; item 2: four
    # shoppers whose events are several half-lives old (decayed weights).
    X = matrix([[50, 1, 0.1], [0, 1, 0.1], [0, 1, 0.1], [0, 0, 0.1]])

    model = Trending(per_user_cap=1.0).fit(X)

    ids, _ = model.recommend_from_items([], n=3)
    assert ids.tolist() == [1, 0, 2]


def test_trending_rejects_a_non_positive_cap():
    with pytest.raises(ValueError, match="per_user_cap"):
        Trending(per_user_cap=0)


def test_it_does_not_change_the_callers_matrix():
    X = matrix([[3, 0], [0, 2]])

    popular_by_user_segment(X, ["a", "b"])
    Popularity().fit(X)

    assert X.toarray().tolist() == [[3, 0], [0, 2]]


def test_it_ranks_items_within_each_shopper_segment():
    X = matrix([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0]])
    countries = np.array(["DE", "DE", "FR", "FR", "IT"])

    labels, ids, scores = popular_by_user_segment(X, countries, n=3)

    assert labels.tolist() == ["DE", "FR", "IT"]
    assert ids.tolist() == [[0, 1, -1], [3, 1, 2], [-1, -1, -1]]
    assert scores[0, :2].tolist() == [2.0, 1.0]


def test_a_stored_zero_is_not_a_shopper_of_that_item_in_its_segment():
    # Shopper 0 (DE) stores item 0 as an explicit 0; shopper 1 (FR) touched items 0 and 1.
    X = sp.csr_matrix(
        (np.array([0, 1, 1], np.float32), np.array([0, 0, 1]), np.array([0, 1, 3])), shape=(2, 2)
    )

    labels, ids, scores = popular_by_user_segment(X, np.array(["DE", "FR"]), n=2)

    assert labels.tolist() == ["DE", "FR"]
    assert ids.tolist() == [[-1, -1], [0, 1]]
    assert scores[1].tolist() == [1.0, 1.0]
    assert X.data.tolist() == [0, 1, 1] and X.nnz == 3  # the caller's matrix is unchanged


def test_it_ranks_items_within_each_category_by_a_global_score():
    scores = np.array([5.0, 1.0, 3.0, 4.0, np.nan, 2.0])
    categories = np.array([10, 20, 10, 20, 10, 30])

    labels, ids, top = popular_by_item_group(scores, categories, n=2)

    assert labels.tolist() == [10, 20, 30]
    assert ids.tolist() == [[0, 2], [3, 1], [5, -1]]
    assert top[2, 1] == -np.inf


def test_segment_labels_must_match_the_number_of_shoppers():
    with pytest.raises(ValueError, match=r"user_segments must have shape \(2,\)"):
        popular_by_user_segment(matrix([[1], [1]]), ["DE"])


@pytest.mark.parametrize(
    ("args", "message"),
    [((-1, [1]), "item_id"), ((0, [99]), "item_ids"), ((0, [1], [-2.0]), "non-negative")],
)
@pytest.mark.parametrize("cls", [Popularity, Trending])
def test_explain_refuses_a_bad_request_like_every_other_model(cls, args, message):
    model = cls().fit(sp.csr_matrix(np.kron(np.eye(2), np.ones((5, 4))).astype(np.float32)))

    with pytest.raises(ValueError, match=message):
        model.explain(*args)


def test_a_saved_popularity_whose_metadata_disagrees_with_its_scores_is_refused(tmp_path):
    model = Popularity().fit(sp.csr_matrix(np.eye(3, dtype=np.float32)))
    saved = model.save_dir(tmp_path / "pop")
    meta = json.loads((saved / "meta.json").read_text())
    (saved / "meta.json").write_text(json.dumps({**meta, "n_items": 20}))

    with pytest.raises(ValueError, match="item_scores"):
        Popularity.load_dir(saved)
