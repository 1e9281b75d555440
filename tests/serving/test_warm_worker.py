"""A fresh web worker loads the champions and the catalog before it takes its first request."""

from __future__ import annotations

import pytest

from recommender.serving.catalog_state import current_catalog
from recommender.serving.model_cache import _State, champion_models
from recommender.serving.warm import warm_up

pytestmark = pytest.mark.django_db


def test_warming_loads_every_champion_and_maps_it_onto_the_catalog(trained_shop, settings):
    settings.SHELFWISE_MODEL_CHECK_SECONDS = 600
    assert _State.models == {}

    warm_up()

    assert set(_State.models) == {"item_knn", "popularity", "trending"}
    catalog = current_catalog()
    for served in _State.models.values():
        assert served._rows is not None and served._rows[0] == catalog.version
    # The first request finds them loaded: the same objects, no reload.
    loaded = dict(_State.models)
    assert all(champion_models()[name] is model for name, model in loaded.items())


def test_a_shop_without_champions_still_warms(db):
    assert warm_up() >= 0
    assert _State.models == {}
