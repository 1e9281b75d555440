"""A non-personalised champion's ranking is computed once per loaded version."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommender.core import Popularity
from recommender.core.matrix import IdIndex
from recommender.serving.model_cache import ServingModel


def _served(scores: list[float]) -> ServingModel:
    model = Popularity().fit(sp.csr_matrix((1, len(scores)), dtype=np.float32))
    model.item_scores = np.array(scores, dtype=np.float32)
    items = IdIndex(np.arange(len(scores)) + 100)
    return ServingModel(1, "u", "popularity", model, items, None)


def test_ranked_items_are_best_first_with_ties_in_index_order():
    served = _served([2.0, 5.0, 2.0, 9.0, 5.0, 0.0])

    assert served.ranked_items().tolist() == [3, 1, 4, 0, 2, 5]


def test_ranked_items_are_kept_for_the_loaded_version():
    served = _served([1.0, 3.0, 2.0])
    first = served.ranked_items()

    assert served.ranked_items() is first
