"""The serving tests' planted shop (three taste groups, trained models), and placements on it."""

from __future__ import annotations

import pytest

from placements.models import Placement
from tests.serving.conftest import _fresh_serving_state, api, shop, trained_shop  # noqa: F401


@pytest.fixture
def home(trained_shop) -> Placement:  # noqa: F811
    placement = Placement(name="home-for-you", title="Home: for you", strategy="for_you", k=5)
    placement.full_clean()
    placement.save()
    return placement
