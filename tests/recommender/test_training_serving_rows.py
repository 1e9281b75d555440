"""The training holdout scores each shopper from the row serving would build for them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
import scipy.sparse as sp

from behavior.models import Event, EventKind, Shopper
from behavior.selectors import recent_events_from_db
from catalog.models import Category, Product
from recommender.core.matrix import IdIndex
from recommender.models import ModelVersion, TrainingRun
from recommender.serving.realtime import shopper_profile
from recommender.training.dataset import build_training_data, load_events
from recommender.training.evaluation import AlignedModel, holdout_metrics
from recommender.training.fitting import Configuration, fit_configuration
from recommender.training.services import run_training, start_training
from tests.recommender.conftest import NEWEST_EVENT

pytestmark = pytest.mark.django_db
WEIGHTS = {"view": 1.0, "search": 0.5, "add_to_cart": 4.0, "purchase": 8.0, "rating": 2.0}


class Catalog:
    """What a profile asks of a catalog snapshot: product pk → row (here the training index)."""

    def __init__(self, items: IdIndex) -> None:
        self.items = items

    def rows_of(self, pks: np.ndarray) -> np.ndarray:
        return self.items.to_index(pks)


@pytest.fixture
def serving_settings(settings):
    settings.SHELFWISE_EVENT_WEIGHTS = WEIGHTS
    settings.SHELFWISE_VALUE_TRANSFORM = "log1p"
    settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS = 48.0
    settings.SHELFWISE_RECENT_EVENTS = 3
    settings.SHELFWISE_SCORED_EVENTS = 3  # what serving scores, and so the holdout's rows
    return settings


def _events(shopper: Shopper, products: list[Product], plan: list[tuple[int, str, float, int]]):
    Event.objects.bulk_create(
        Event(
            event_id=f"{shopper.external_id}-{n}",
            shopper=shopper,
            product=products[product],
            kind=kind,
            value=value,
            occurred_at=NEWEST_EVENT - timedelta(hours=hours_before),
        )
        for n, (product, kind, value, hours_before) in enumerate(plan)
    )


def test_each_shoppers_holdout_row_is_their_serving_profile(serving_settings):
    category = Category.objects.create(name="Home", slug="home")
    products = Product.objects.bulk_create(
        Product(sku=f"SKU-{i}", title=f"Product {i}", price=5, category=category) for i in range(5)
    )
    early, late = Shopper.objects.bulk_create(
        [Shopper(external_id="early"), Shopper(external_id="late")]
    )
    # "early" stopped buying 30 days before "late": their ages count from their own last event.
    _events(
        early,
        products,
        [
            (0, EventKind.PURCHASE, 3.0, 720 + 200),  # fourth newest: beyond the 3 served
            (1, EventKind.PURCHASE, 12.0, 720 + 96),
            (2, EventKind.VIEW, 1.0, 720 + 48),
            (1, EventKind.ADD_TO_CART, 1.0, 720),
        ],
    )
    _events(late, products, [(3, EventKind.PURCHASE, 2.0, 10), (4, EventKind.VIEW, 1.0, 0)])

    data = build_training_data(
        load_events(window_days=0),
        kind_weights=WEIGHTS,
        half_life_days=90.0,
        value_transform="log1p",
        holdout_fraction=0.0,
        realtime_half_life_hours=48.0,
        recent_events=3,
    )

    catalog = Catalog(data.items)
    for shopper in (early, late):
        profile = shopper_profile(
            events=recent_events_from_db(shopper_id=shopper.pk, limit=3), catalog=catalog
        )
        served = np.zeros(len(data.items), dtype=np.float32)
        served[profile.rows] = profile.weights
        row = data.score_rows[int(data.users.to_index([shopper.pk])[0])].toarray()[0]
        np.testing.assert_allclose(row, served, rtol=1e-6)
    early_row = data.score_rows[int(data.users.to_index([early.pk])[0])].toarray()[0]
    # The newest event weighs in full although it is 30 days older than the newest overall.
    index = data.items.to_index([p.pk for p in products])
    assert early_row[index[0]] == 0.0
    np.testing.assert_allclose(
        early_row[index[1]], 4.0 * np.log(2.0) + 8.0 * np.log1p(12.0) * 2.0**-2, rtol=1e-6
    )
    np.testing.assert_allclose(early_row[index[2]], np.log(2.0) * 0.5, rtol=1e-6)


class Links:
    """Item 0 suggests item 4; item 2 suggests item 0 (strongly) and item 3."""

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        links = np.zeros((5, 5), dtype=np.float32)
        links[0, 4], links[2, 0], links[2, 3] = 1.0, 2.0, 1.0
        return np.asarray(rows @ links)


def test_the_holdout_ranks_from_the_serving_row_and_excludes_the_whole_training_row():
    items = IdIndex(np.arange(5))
    # Long ago the shopper bought item 0 heavily, lately item 2; after the cut they buy item 3.
    train = sp.csr_matrix(np.array([[5.0, 0.0, 1.0, 0.0, 0.0]], dtype=np.float32))
    latest = sp.csr_matrix(np.array([[0.0, 0.0, 1.0, 0.0, 0.0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0.0, 0.0, 0.0, 1.0, 0.0]], dtype=np.float32))

    served = AlignedModel(Links(), model_items=items, items=items, score_rows=latest)
    ids, _ = served.recommend([0], train, n=1)
    by_serving_row = holdout_metrics(
        Links(), model_items=items, items=items, train=train, test=test, k=1, score_rows=latest
    )
    by_training_row = holdout_metrics(
        Links(), model_items=items, items=items, train=train, test=test, k=1
    )

    # Item 0 scores highest from the latest row, but it was bought: excluded like any purchase.
    assert ids.tolist() == [[3]]
    assert by_serving_row["ndcg@1"] == 1.0
    # The old heavy purchase dominates the training row: item 4 comes first, a miss.
    assert by_training_row["ndcg@1"] == 0.0


@pytest.mark.usefixtures("media_root")
def test_a_runs_recorded_ndcg_is_the_models_ndcg_from_serving_rows(shop, serving_settings):
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        algorithms=["item_knn"],
        params={"item_knn": {"k_neighbors": 10}},
        enqueue=False,
    )

    run = run_training(run_id=run.pk)

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = ModelVersion.objects.get(run=run)
    data = build_training_data(
        load_events(window_days=0),
        kind_weights=WEIGHTS,
        half_life_days=serving_settings.SHELFWISE_HALF_LIFE_DAYS,
        value_transform="log1p",
        holdout_fraction=serving_settings.SHELFWISE_HOLDOUT_FRACTION,
        realtime_half_life_hours=48.0,
        recent_events=3,
    )
    # The saved model was fitted again on the whole window: its score is the configuration's
    # fitted on the events before the holdout.
    model, items, _ = fit_configuration(
        "item_knn", Configuration.from_dict(version.params), data=data
    )
    expected = holdout_metrics(
        model,
        model_items=items,
        items=data.items,
        train=data.train,
        test=data.test,
        k=10,
        score_rows=data.score_rows,
    )
    from_training_rows = holdout_metrics(
        model, model_items=items, items=data.items, train=data.train, test=data.test, k=10
    )
    assert version.metrics["ndcg@10"] == pytest.approx(expected["ndcg@10"])
    assert expected["ndcg@10"] != pytest.approx(from_training_rows["ndcg@10"])
