"""The replay reproduces the reference scorer's split and scores (../shared/eval/evaluate.py),
serves through the API's function without touching champions, and refuses bad input."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from behavior.models import Event, EventKind, Shopper
from recommender.models import ModelVersion, TrainingRun
from recommender.replay.scoring import score_lists
from recommender.replay.services import replay_data
from tests.factories import ProductFactory
from tests.serving.conftest import build_shop

pytestmark = pytest.mark.django_db

EVALUATE = Path(__file__).resolve().parents[3] / "shared" / "eval" / "evaluate.py"
START = datetime(2011, 1, 3, 9, 0, tzinfo=UTC)


def _reference():
    if not EVALUATE.exists():
        pytest.skip(f"the reference scorer is not at {EVALUATE}")
    spec = importlib.util.spec_from_file_location("reference_evaluate", EVALUATE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _store_ties(seed: int = 1, kind: str = EventKind.PURCHASE) -> list[tuple[str, str, int]]:
    """Purchases (or ``kind``: a rating of 5) on few distinct minutes (many ties), ids whose
    string order is not numeric."""
    rng = np.random.default_rng(seed)
    products = [ProductFactory(sku=sku) for sku in ("9", "10", "85123A", "2", "100", "71053")]
    shoppers = [Shopper.objects.create(external_id=str(n)) for n in (5, 12, 100, 7, 31, 2, 44)]
    rows, events = [], []
    for n in range(260):
        shopper, product = rng.integers(len(shoppers)), rng.integers(len(products))
        at = START + timedelta(minutes=int(rng.integers(40)))
        rows.append((shoppers[shopper].external_id, products[product].sku, int(at.timestamp())))
        events.append(
            Event(
                event_id=f"e-{n}",
                shopper=shoppers[shopper],
                product=products[product],
                kind=kind,
                value=5.0 if kind == EventKind.RATING else 1.0,
                order_id=f"o-{n}" if kind == EventKind.PURCHASE else "",
                occurred_at=at,
            )
        )
    Event.objects.bulk_create(events)
    return rows


def test_the_split_has_exactly_the_reference_scorers_shoppers_and_test_items():
    reference = _reference()
    rows = _store_ties()
    users, items, times = (np.array(column) for column in zip(*rows, strict=True))
    expected = reference.make_split(
        reference.Events("ties", users, items, np.ones(len(rows)), times.astype(np.int64)),
        "global",
    )

    data = replay_data(cut=None)

    split = data.split
    assert split.cut == expected.meta["params"]["cut_timestamp"]
    assert list(data.external_ids) == list(expected.user_ids)
    assert list(data.skus) == list(expected.item_ids)
    assert list(split.eval_users) == list(expected.eval_users)
    assert (split.test != expected.test).nnz == 0
    assert (split.train != expected.train).nnz == 0


def test_scores_equal_the_reference_scorers_with_training_items_counted_as_misses():
    reference = _reference()
    rows = _store_ties(seed=2)
    users, items, times = (np.array(column) for column in zip(*rows, strict=True))
    expected = reference.make_split(
        reference.Events("ties", users, items, np.ones(len(rows)), times.astype(np.int64)),
        "global",
    )
    split = replay_data(cut=None).split
    rng = np.random.default_rng(0)
    recs = np.stack([rng.permutation(split.train.shape[1]) for _ in split.eval_users])
    recs[:, -1] = -1  # a short list

    ours, _ = score_lists(recs, users=split.eval_users, relevant=split.test, exclude=split.train)

    theirs_recs = recs.copy()
    train = expected.train[expected.eval_users].toarray() > 0
    theirs_recs[np.take_along_axis(train, np.maximum(recs, 0), 1) & (recs >= 0)] = -1
    theirs = reference.evaluate_recs(
        expected, np.pad(theirs_recs, ((0, 0), (0, 20)), constant_values=-1), ks=(10,)
    )
    for metric in ("ndcg@10", "recall@10", "hr@10", "coverage@10"):
        assert ours[metric] == pytest.approx(theirs[metric], abs=1e-12), metric


def test_evaluate_replays_the_shop_without_touching_champions_or_runs(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    build_shop()
    report = tmp_path / "report.json"

    call_command(
        "evaluate",
        "--algorithm=item_knn",
        "--algorithm=popularity",
        f"--json={report}",
        f"--lists={tmp_path / 'lists'}",
    )

    result = json.loads(report.read_text())
    names = [score["name"] for score in result["scores"]]
    assert "for_you served (auto)" in names and "for_you served (item_knn)" in names
    assert "baseline ease" in names and "page served (auto)" in names
    again = next(s for s in result["scores"] if s["name"] == "buy_again served (auto)")
    assert "baseline own_most_frequent (servable)" in names
    assert (
        again["vs_servable_own_most_frequent"]["low"]
        <= again["vs_servable_own_most_frequent"]["high"]
    )
    served = next(s for s in result["scores"] if s["name"] == "for_you served (auto)")
    assert served["metrics"]["n_shoppers"] == result["facts"]["n_eligible_shoppers"] > 0
    assert served["vs_popularity"]["low"] <= served["vs_popularity"]["ratio"]
    assert (tmp_path / "lists" / "for_you_auto.csv").read_text().startswith("user,item,rank")
    assert ModelVersion.objects.count() == 0 and TrainingRun.objects.count() == 0


def test_a_shop_of_ratings_only_is_scored_without_the_purchases_target(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    _store_ties(seed=3, kind=EventKind.RATING)
    report = tmp_path / "report.json"

    call_command("evaluate", "--algorithm=item_knn", "--algorithm=popularity", f"--json={report}")

    result = json.loads(report.read_text())
    assert {score["target"] for score in result["scores"]} == {"new items"}
    served = next(s for s in result["scores"] if s["name"] == "for_you served (auto)")
    assert served["metrics"]["n_shoppers"] == result["facts"]["n_eligible_shoppers"] > 0
    assert result["facts"]["n_repeat_target_shoppers"] == 0
    assert "no repeat target" in result["facts"]["buy_again_tuning"]["note"]


def test_evaluate_without_events_exits_with_a_message():
    with pytest.raises(CommandError, match="no shopper events"):
        call_command("evaluate")


def test_evaluate_at_a_cut_with_no_shopper_on_both_sides_exits_with_a_message():
    build_shop()

    with pytest.raises(CommandError, match="No shopper has events both before and after"):
        call_command("evaluate", "--cut=2030-01-01T00:00")


def test_evaluate_refuses_an_unreadable_cut():
    with pytest.raises(CommandError, match="not an ISO time"):
        call_command("evaluate", "--cut=yesterday")


@pytest.mark.slow
def test_on_online_retail_the_split_is_exactly_the_reference_global_split():
    reference = _reference()
    data_file = EVALUATE.parents[1] / "datasets" / "online_retail" / "online_retail.csv.gz"
    call_command("import_online_retail", str(data_file), verbosity=0)
    expected = reference.make_split(reference.load_online_retail(), "global")

    data = replay_data(cut=None)

    assert data.split.cut == expected.meta["params"]["cut_timestamp"]  # 2011-11-16 08:28
    assert data.split.eval_users.size == expected.eval_users.size == 1098
    assert list(data.external_ids[data.split.eval_users]) == list(
        expected.user_ids[expected.eval_users]
    )
    assert list(data.skus) == list(expected.item_ids)
    assert (data.split.test != expected.test[: data.split.test.shape[0]]).nnz == 0
