"""The sparse path a search's scores take to catalog rows gives what the dense path gives."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.serving.stages import _scaled_hits, _scaled_rows


@pytest.mark.parametrize("seed", range(5))
def test_a_querys_hits_scale_like_the_whole_catalog_row(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_items = 300, 280
    # Model items on shuffled catalog rows, a tenth of them no longer in the catalog.
    item_rows = rng.permutation(n_rows)[:n_items]
    item_rows[rng.random(n_items) < 0.1] = -1
    scores = np.where(rng.random(n_items) < 0.05, rng.random(n_items), 0.0).astype(np.float32)
    mask = rng.random(n_rows) < 0.8

    rows, part = _scaled_hits(scores, item_rows, mask)
    dense = _scaled_rows(scores, item_rows, mask)

    expected = np.zeros(n_rows, dtype=np.float32)
    expected[rows] = part
    assert rows.size == np.unique(rows).size > 0
    np.testing.assert_array_equal(expected, dense)


def test_a_query_without_an_eligible_hit_moves_nothing():
    item_rows = np.array([0, 1, -1])
    scores = np.array([0.5, 0.0, 0.9], dtype=np.float32)

    rows, part = _scaled_hits(scores, item_rows, mask=np.array([False, True, True]))

    assert rows.size == part.size == 0
    assert _scaled_rows(scores, item_rows, np.array([False, True, True])) is None
