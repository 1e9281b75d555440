"""IdIndex and the weighted interaction matrix."""

from datetime import UTC, datetime

import numpy as np
import pytest

from recommender.core.matrix import IdIndex, build_interaction_matrix, last_interaction_times

DAY = 86_400.0


def test_it_maps_ids_to_dense_indices_in_order_of_first_appearance():
    index = IdIndex([30, 10, 30, 20])

    assert len(index) == 3
    assert index.to_index([10, 20, 30]).tolist() == [1, 2, 0]
    assert index.to_external([0, 1, 2]).tolist() == [30, 10, 20]


def test_it_returns_minus_one_for_unknown_ids_unless_strict():
    index = IdIndex(["sku-a", "sku-b"])

    assert index.to_index(["sku-b", "nope"]).tolist() == [1, -1]
    with pytest.raises(ValueError, match="unknown ids"):
        index.to_index(["nope"], strict=True)


def test_it_refuses_to_look_up_strings_in_an_integer_index():
    index = IdIndex([1, 2])

    with pytest.raises(ValueError, match="integers"):
        index.to_index(["1"])


def test_it_rejects_out_of_range_indices_when_mapping_back():
    index = IdIndex([5, 6])

    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        index.to_external([-1])


@pytest.mark.parametrize("ids", [[7, 3, 9], ["b", "a", "ccc"]])
def test_it_round_trips_through_npy_without_pickle(tmp_path, ids):
    index = IdIndex(ids)

    path = index.save(tmp_path / "ids.bin")
    loaded = IdIndex.load(path)

    assert path.name == "ids.bin"
    assert np.load(path, allow_pickle=False).dtype.kind in "iU"
    assert loaded == index
    assert loaded.to_index(ids).tolist() == [0, 1, 2]


def test_it_weights_events_by_kind_and_sums_duplicates():
    matrix = build_interaction_matrix(
        [0, 0, 0, 1],
        [1, 1, 2, 0],
        ["view", "view", "purchase", "view"],
        kind_weights={"view": 1.0, "purchase": 5.0},
        n_users=2,
        n_items=3,
    )

    assert matrix.dtype == np.float32
    assert matrix.toarray().tolist() == [[0, 2, 5], [1, 0, 0]]


def test_it_keeps_the_strongest_event_when_deduping_by_max():
    matrix = build_interaction_matrix(
        [0, 0, 0],
        [1, 1, 1],
        ["view", "purchase", "view"],
        kind_weights={"view": 1.0, "purchase": 5.0},
        n_users=1,
        n_items=2,
        dedupe="max",
    )

    assert matrix.toarray().tolist() == [[0, 5]]


def test_it_halves_the_weight_of_an_event_one_half_life_old():
    now = datetime(2025, 1, 31, tzinfo=UTC)
    times = np.array(["2025-01-31", "2025-01-24", "2025-02-02"], dtype="datetime64[s]")

    matrix = build_interaction_matrix(
        [0, 1, 2],
        [0, 0, 0],
        ["view"] * 3,
        times=times,
        kind_weights={"view": 1.0},
        half_life_days=7,
        now=now,
        n_users=3,
        n_items=1,
    )

    np.testing.assert_allclose(matrix.toarray().ravel(), [1.0, 0.5, 1.0], rtol=1e-6)


@pytest.mark.parametrize(
    ("transform", "expected"),
    [("none", [3.0, 1.0]), ("log1p", [np.log1p(3.0), np.log1p(1.0)]), ("binary", [1.0, 1.0])],
)
def test_it_transforms_values_and_counts_missing_values_as_one(transform, expected):
    matrix = build_interaction_matrix(
        [0, 0],
        [0, 1],
        ["purchase", "purchase"],
        values=[3.0, np.nan],
        kind_weights={"purchase": 1.0},
        value_transform=transform,
        n_users=1,
        n_items=2,
    )

    np.testing.assert_allclose(matrix.toarray().ravel(), expected, rtol=1e-6)


def test_it_drops_events_whose_weight_is_zero():
    matrix = build_interaction_matrix(
        [0, 0],
        [0, 1],
        ["view", "search"],
        kind_weights={"view": 1.0, "search": 0.0},
        n_users=1,
        n_items=2,
    )

    assert matrix.nnz == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": [0, -1]}, "drop ids unknown"),
        ({"kinds": ["view", "click"]}, "without a weight.*click"),
        ({"values": [1.0, -2.0]}, "values must be finite"),
        ({"half_life_days": 7.0}, "needs both times and now"),
        ({"dedupe": "last"}, "dedupe"),
        ({"value_transform": "sqrt"}, "value_transform.*sqrt"),
        ({"values": [1.0, 2.0], "value_transform": "sqrt"}, "value_transform.*sqrt"),
        ({"half_life_days": float("nan"), "times": [0.0, 0.0], "now": DAY}, "half_life_days"),
        ({"half_life_days": 7.0, "times": [0.0, 0.0], "now": float("nan")}, "now must be"),
        ({"half_life_days": 7.0, "times": [0.0, 0.0], "now": np.datetime64("NaT")}, "now must"),
        ({"half_life_days": 7.0, "times": [0.0, float("nan")], "now": DAY}, "times.*position 1"),
        ({"half_life_days": 7.0, "times": [0.0, np.inf], "now": DAY}, "times.*position 1"),
        (
            {
                "half_life_days": 7.0,
                "times": np.array(["2026-01-01", "NaT"], dtype="datetime64[s]"),
                "now": np.datetime64("2026-01-02"),
            },
            "times.*position 1",
        ),
        ({"half_life_days": 7.0, "times": [0.0], "now": DAY}, r"times must have shape \(2,\)"),
    ],
)
def test_it_rejects_bad_events_with_a_clear_message(kwargs, message):
    arguments = {"users": [0, 1], "items": [0, 1], "kinds": ["view", "view"]} | kwargs
    positional = [arguments.pop(name) for name in ("users", "items", "kinds")]

    with pytest.raises(ValueError, match=message):
        build_interaction_matrix(
            *positional, kind_weights={"view": 1.0}, n_users=2, n_items=2, **arguments
        )


def test_it_finds_the_last_time_of_each_user_item_pair():
    users, items, last = last_interaction_times(
        [1, 0, 1, 1], [2, 0, 2, 0], [5.0, 1.0, 9.0, 3.0], n_users=2, n_items=3
    )

    assert list(zip(users.tolist(), items.tolist(), last.tolist(), strict=True)) == [
        (0, 0, 1.0),
        (1, 0, 3.0),
        (1, 2, 9.0),
    ]
