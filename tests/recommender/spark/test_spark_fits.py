"""Spark's fits match the numpy trainer's: ALS finds the planted groups and loads as a normal
ALS, the co-occurrence neighbours equal numpy's counts and ItemKNN's similarities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.core.als import ALS
from recommender.core.knn import ItemKNN
from recommender.training.spark import session
from recommender.training.spark.als import reg_param, spark_als_params
from recommender.training.spark.session import SparkUnavailable
from recommender.training.spark.trainer import fit_on_spark

N_GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP = 3, 20, 8


def planted(seed: int = 0) -> sp.csr_matrix:
    """Users of group g touch half the items of group g (weights 1-5) and nothing else."""
    rng = np.random.default_rng(seed)
    n_users, n_items = N_GROUPS * USERS_PER_GROUP, N_GROUPS * ITEMS_PER_GROUP
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for user in range(n_users):
        group = user // USERS_PER_GROUP
        items = group * ITEMS_PER_GROUP + rng.choice(ITEMS_PER_GROUP, 4, replace=False)
        dense[user, items] = rng.integers(1, 6, size=4)
    return sp.csr_matrix(dense)


def test_spark_als_recommends_each_shopper_its_own_group_and_loads_as_a_normal_als(
    spark_trainer, tmp_path
):
    X = planted()

    model, notes = fit_on_spark("als", {"factors": 6, "iterations": 8, "alpha": 2.0}, X)

    assert isinstance(model, ALS) and notes["spark_fit_seconds"] > 0
    assert model.user_factors.shape == (X.shape[0], 6) and model.item_factors.shape == (24, 6)
    ids, _ = model.recommend(np.arange(X.shape[0]), X, n=2)
    groups = np.arange(X.shape[0])[:, None] // USERS_PER_GROUP
    assert np.mean(ids // ITEMS_PER_GROUP == groups) > 0.9
    reloaded = ALS.load(model.save(tmp_path / "als.npz"))
    np.testing.assert_array_equal(reloaded.item_factors, model.item_factors)
    assert reloaded.params == ALS(factors=6, iterations=8, alpha=2.0).params
    assert list((tmp_path / "snapshots").iterdir()) == []  # the snapshot went with the fit


def test_our_parameters_map_onto_spark_with_the_regularisation_of_the_mean_shopper():
    X = planted()  # 4 interactions per shopper

    mapped = spark_als_params({"factors": 16, "regularization": 2.0, "alpha": 0.25}, X)

    assert mapped["rank"] == 16 and mapped["maxIter"] == ALS().iterations
    assert mapped["alpha"] == 0.25 and mapped["implicitPrefs"] is True
    assert mapped["regParam"] == pytest.approx(2.0 / 4) == reg_param(2.0, X)
    assert mapped["seed"] == 42


def test_co_occurrence_neighbours_equal_the_counts_of_shoppers_who_touched_both(spark_trainer):
    rng = np.random.default_rng(1)
    B = sp.csr_matrix((rng.random((40, 15)) < 0.25).astype(np.float32))
    counts = (B.T @ B).toarray()
    np.fill_diagonal(counts, 0)

    model, _ = fit_on_spark("item_knn", {"similarity": "dot", "k_neighbors": 15}, B)

    assert isinstance(model, ItemKNN)
    np.testing.assert_array_equal(model.similarity.toarray(), counts)


@pytest.mark.parametrize(
    "params",
    [
        # the shipped configuration (settings.SHELFWISE_ALGORITHM_PARAMS)
        {"similarity": "dot", "weighting": "bm25", "k_neighbors": 5, "bm25_k1": 12.0},
        {"similarity": "cosine", "weighting": "tfidf", "k_neighbors": 4, "shrinkage": 1.0},
        {"similarity": "cosine", "k_neighbors": 6},
        {"similarity": "jaccard", "k_neighbors": 30, "shrinkage": 2.0},
    ],
)
def test_spark_neighbours_are_item_knns_neighbours(spark_trainer, params):
    X = sp.random(50, 30, density=0.15, random_state=2, format="csr", dtype=np.float32)
    X.data = np.round(X.data * 10, 2) + 0.1

    model, _ = fit_on_spark("item_knn", params, X)

    expected = ItemKNN(**params).fit(X).similarity
    assert (model.similarity != 0).toarray().tolist() == (expected != 0).toarray().tolist()
    np.testing.assert_allclose(model.similarity.toarray(), expected.toarray(), rtol=1e-5)


def test_without_java_the_spark_trainer_says_what_is_missing(settings, monkeypatch):
    pytest.importorskip("pyspark", reason="the extra is missing: that message comes first")
    settings.SHELFWISE_TRAINER = "spark"
    monkeypatch.setattr(session.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)

    with pytest.raises(SparkUnavailable, match="SHELFWISE_TRAINER=spark, but java is not on PATH"):
        fit_on_spark("als", {}, planted())
