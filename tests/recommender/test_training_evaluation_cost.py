"""Evaluation cost in a training run stays bounded: a sample of holdout shoppers, a champion
scored once per holdout, non-personalised models ranked once."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.artifacts import delete_artifact
from recommender.core import Popularity
from recommender.core.matrix import IdIndex
from recommender.core.ranking import top_k
from recommender.models import ModelVersion, TrainingRun
from recommender.selectors import champion_version
from recommender.training.evaluation import AlignedModel
from recommender.training.services import run_training, start_training

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def train(algorithm: str, **params) -> TrainingRun:
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=[algorithm],
        params={algorithm: params} if params else None,
        enqueue=False,
    )
    return run_training(run_id=run.pk)


def test_a_run_scores_at_most_the_configured_sample_of_holdout_shoppers(shop, settings):
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = 10

    run = train("popularity")

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    metrics = champion_version(algorithm="popularity").metrics
    assert metrics["n_users"] == 10 < metrics["n_eligible_users"]
    assert metrics["ndcg@10_ci95"] > 0


def test_a_champion_configured_as_the_candidate_scores_what_the_candidate_scores(shop):
    train("popularity")
    champion = champion_version(algorithm="popularity")
    # Were the second run to load the champion's model, it would find no artifact.
    delete_artifact(champion.artifact)

    second = train("popularity")

    newer = ModelVersion.objects.get(run=second, algorithm="popularity")
    assert newer.metrics["champion_version"] == champion.pk
    assert newer.metrics["champion_ndcg@10"] == newer.metrics["ndcg@10"]


def test_a_champion_configured_otherwise_is_fitted_on_this_runs_split_not_loaded(shop):
    first = train("item_knn", k_neighbors=5)
    champion = champion_version(algorithm="item_knn")
    delete_artifact(champion.artifact)  # its saved model saw a different window: never used

    second = train("item_knn", k_neighbors=50)

    newer = ModelVersion.objects.get(run=second, algorithm="item_knn")
    assert second.stats["holdout_fingerprint"] == first.stats["holdout_fingerprint"]
    assert newer.metrics["champion_version"] == champion.pk
    # The same configuration on the same split scores the same.
    assert newer.metrics["champion_ndcg@10"] == pytest.approx(champion.metrics["ndcg@10"])


def test_an_older_champion_is_not_scored_again_on_a_holdout_it_was_scored_on(shop):
    first = train("popularity")
    champion = champion_version(algorithm="popularity")
    _forget_configuration(champion)
    delete_artifact(champion.artifact)

    second = train("popularity")

    assert second.stats["holdout_fingerprint"] == first.stats["holdout_fingerprint"]
    newer = ModelVersion.objects.get(run=second, algorithm="popularity")
    assert newer.metrics["champion_ndcg@10"] == champion.metrics["ndcg@10"]


def test_an_older_champion_is_scored_again_from_its_model_when_the_holdout_changed(shop, settings):
    train("popularity")
    champion = champion_version(algorithm="popularity")
    _forget_configuration(champion)
    delete_artifact(champion.artifact)
    settings.SHELFWISE_EVAL_MAX_SHOPPERS = 7  # another sample: another holdout

    second = train("popularity")

    newer = ModelVersion.objects.get(run=second, algorithm="popularity")
    assert newer.metrics["champion_version"] == champion.pk
    assert newer.metrics["champion_ndcg@10"] is None  # it tried, and found no artifact


def _forget_configuration(version: ModelVersion) -> None:
    """Make ``version`` look like one saved before configurations were recorded."""
    version.params = {k: v for k, v in version.params.items() if k != "half_life_days"}
    version.save(update_fields=["params"])


def test_a_non_personalised_model_ranks_holdout_shoppers_as_the_dense_path_does():
    rng = np.random.default_rng(3)
    train_rows = sp.random(50, 40, density=0.15, random_state=5, format="csr", dtype=np.float32)
    model = Popularity().fit(train_rows)
    model.item_scores = rng.permutation(40).astype(np.float32)  # no ties: one right answer
    items = IdIndex(np.arange(100, 140))
    shuffled = IdIndex(rng.permutation(np.arange(95, 140)))  # another index, 5 unknown ids
    users = np.arange(50)

    for run_items in (items, shuffled):
        aligned = AlignedModel(model, model_items=items, items=run_items)
        rows = sp.csr_matrix(train_rows @ _projection(items, run_items))

        ids, _ = aligned.recommend(users, rows, n=10)

        scores = np.full(len(run_items), -np.inf, dtype=np.float32)
        known = items.to_index(run_items.ids)
        scores[known >= 0] = model.item_scores[known[known >= 0]]
        expected, _ = top_k(np.broadcast_to(scores, (50, len(run_items))), 10, exclude=rows)
        np.testing.assert_array_equal(ids, expected)


def _projection(source: IdIndex, target: IdIndex) -> sp.csr_matrix:
    columns = target.to_index(source.ids)
    return sp.csr_matrix(
        (np.ones(len(source), dtype=np.float32), (np.arange(len(source)), columns)),
        shape=(len(source), len(target)),
    )
