"""Issue 13 item 5: "because you … X" only when X carries SHELFWISE_REASON_MIN_SHARE of the
pick's score; otherwise the truthful "picked for you from what you browsed"."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from behavior.models import Event, EventKind, Shopper
from recommender.serving.model_cache import champion_models
from recommender.serving.service import recommend
from tests.serving.conftest import NEWEST, PER_GROUP

pytestmark = pytest.mark.django_db


def _shopper_with(external_id: str, products: list, kind: str) -> Shopper:
    shopper = Shopper.objects.create(external_id=external_id, country="DE")
    Event.objects.bulk_create(
        Event(
            event_id=f"{external_id}-{n}",
            shopper=shopper,
            product=product,
            kind=kind,
            occurred_at=NEWEST - timedelta(seconds=1),
            order_id=f"{external_id}-order" if kind == EventKind.PURCHASE else "",
        )
        for n, product in enumerate(products)
    )
    return shopper


def _top_share(product_pk: int, history: list) -> float:
    """The share of the pick's item-kNN score its strongest history item carries."""
    served = champion_models()["item_knn"]
    items = served.items.to_index(np.array([p.pk for p in history]))
    target = int(served.items.to_index(np.array([product_pk]))[0])
    _best, share = served.model.explain(target, items[items >= 0], None)
    return share


def test_one_strong_purchase_is_named_because_you_bought(trained_shop):
    plate = trained_shop["products"][PER_GROUP]
    shopper = _shopper_with("one-plate", [plate], EventKind.PURCHASE)

    result = recommend(shopper=shopper, slot="for_you", k=6, now=NEWEST)

    from_model = [i for i in result.items if i.source.startswith("item_knn@")]
    assert from_model
    assert {i.reason.text for i in from_model} == {f"because you bought {plate.title}"}


def test_an_item_carrying_a_small_share_of_the_score_is_not_named(trained_shop, settings):
    # Eight plates viewed alike: none of them is why another plate is picked.
    settings.SHELFWISE_REASON_MIN_SHARE = 0.5
    history = trained_shop["products"][PER_GROUP : PER_GROUP + 8]
    shopper = _shopper_with("eight-plates", history, EventKind.VIEW)

    result = recommend(shopper=shopper, slot="for_you", k=6, now=NEWEST)

    from_model = [i for i in result.items if i.source.startswith("item_knn@")]
    weak = [i for i in from_model if _top_share(i.product.id, history) < 0.5]
    assert weak
    assert {i.reason.code for i in weak} == {"personal"}
    assert {i.reason.text for i in weak} == {"picked for you from what you browsed"}
    strong = [i for i in from_model if i not in weak]
    assert all(i.reason.code == "because_you_view" for i in strong)


def test_the_share_threshold_is_a_setting(trained_shop, settings):
    settings.SHELFWISE_REASON_MIN_SHARE = 0.0
    history = trained_shop["products"][PER_GROUP : PER_GROUP + 8]
    shopper = _shopper_with("eight-plates-any", history, EventKind.VIEW)

    result = recommend(shopper=shopper, slot="for_you", k=6, now=NEWEST)

    from_model = [i for i in result.items if i.source.startswith("item_knn@")]
    assert from_model
    assert {i.reason.code for i in from_model} == {"because_you_view"}
