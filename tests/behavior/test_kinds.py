"""The kinds table (behavior/kinds.py) is the one place an event kind is declared."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from django.apps import apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState

from behavior.kinds import EVENT_KINDS, Kind, event_weights
from behavior.models import Event, EventKind
from behavior.selectors import RecentEvent
from behavior.services import INVALID, STORED, ingest_events
from dashboard.forms import SIMULATED_KINDS
from demo.synthetic import PLANNED_KINDS
from recommender.serving.realtime import shopper_profile
from recommender.serving.reasons import because
from tests.conftest import REPO_ROOT, api_client
from tests.factories import ProductFactory

WISHLIST = Kind("wishlist", "Wished for", weight=6.0, verb="wished for", rank=5)


class Catalog:
    """Product pk → catalog row, the one thing a profile asks of a snapshot."""

    pks = np.array([10, 20], dtype=np.int64)

    def rows_of(self, pks: np.ndarray) -> np.ndarray:
        return np.array([{10: 0, 20: 1}.get(int(pk), -1) for pk in pks], dtype=np.int64)


def _event(kind: str, sku: str) -> dict:
    event = {"event_id": f"e-{kind}", "shopper": "alice", "kind": kind, "product": sku}
    if not EVENT_KINDS[kind].names_product:
        event = {**event, "product": None, "query": "blue mug"}
    if EVENT_KINDS[kind].value_range:
        event["value"] = EVENT_KINDS[kind].value_range[1]
    return event


@pytest.mark.django_db
def test_every_kind_in_the_table_is_accepted_by_the_events_api():
    product = ProductFactory()
    batch = [_event(kind, product.sku) for kind in EVENT_KINDS]

    response = api_client().post("/api/v1/events", {"events": batch}, format="json")

    assert response.status_code == 200, response.json()
    assert [r["status"] for r in response.json()["results"]] == [STORED] * len(EVENT_KINDS)
    assert set(Event.objects.values_list("kind", flat=True)) == set(EVENT_KINDS)


def test_every_kind_has_a_choice_a_weight_a_verb_and_a_rank():
    ranks = [kind.rank for kind in EVENT_KINDS.values()]

    assert EventKind.choices == [(name, kind.label) for name, kind in EVENT_KINDS.items()]
    assert list(event_weights({})) == list(EVENT_KINDS)
    assert all(kind.verb and kind.label for kind in EVENT_KINDS.values())
    assert len(set(ranks)) == len(ranks)  # the strongest kind on a product is never a tie
    assert {name for name, _ in SIMULATED_KINDS} <= set(EVENT_KINDS)


def test_the_demo_plans_only_kinds_of_the_table():
    assert set(PLANNED_KINDS) <= set(EVENT_KINDS)


def test_settings_override_only_the_weights_they_name(settings):
    settings.SHELFWISE_EVENT_WEIGHTS = {"purchase": 9.0, "no_such_kind": 3.0}

    weights = event_weights()

    assert weights == {
        name: 9.0 if name == "purchase" else kind.weight for name, kind in EVENT_KINDS.items()
    }


def test_the_weight_variables_keep_their_names():
    code = "from django.conf import settings; print(settings.SHELFWISE_EVENT_WEIGHTS)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env |= {"SHELFWISE_WEIGHT_PURCHASE": "9", "SHELFWISE_WEIGHT_ADD_TO_CART": "3.5"}

    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'add_to_cart': 3.5, 'purchase': 9.0}"


def test_the_models_choices_and_constraints_need_no_new_migration():
    loader = MigrationLoader(None, ignore_no_migrations=True)

    # What makemigrations would write for the models as the table builds them.
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
        graph=loader.graph
    )

    assert "behavior" not in changes


def test_a_kind_added_to_the_table_is_weighed_explained_and_ranked(monkeypatch, settings):
    monkeypatch.setitem(EVENT_KINDS, WISHLIST.name, WISHLIST)
    settings.SHELFWISE_EVENT_WEIGHTS = {}
    settings.SHELFWISE_VALUE_TRANSFORM = "log1p"
    settings.SHELFWISE_REALTIME_HALF_LIFE_HOURS = 24.0
    events = [  # newest first
        RecentEvent(product_id=10, kind="purchase", value=1.0, occurred_at=3600.0),
        RecentEvent(product_id=10, kind="wishlist", value=None, occurred_at=0.0),
        RecentEvent(product_id=20, kind="wishlist", value=None, occurred_at=0.0),
    ]

    profile = shopper_profile(events=events, catalog=Catalog())

    assert event_weights()["wishlist"] == 6.0
    assert profile.kinds == {0: "wishlist", 1: "wishlist"}  # it outranks a purchase
    assert profile.weights.tolist()[1] == pytest.approx(6.0 * np.log(2) * 2 ** (-1 / 24))
    assert because(kind="wishlist", title="Blue Mug").text == "because you wished for Blue Mug"


@pytest.mark.django_db
def test_a_kinds_value_rule_is_checked_on_ingestion(monkeypatch):
    gift = Kind("gift", "Gifted", weight=1.0, verb="gave", rank=6, value_range=(1, 3))
    monkeypatch.setitem(EVENT_KINDS, gift.name, gift)
    product = ProductFactory()
    event = {"event_id": "g-1", "shopper": "alice", "kind": "gift", "product": product.sku}

    outcome = ingest_events(events=[{**event, "value": 4}], create_unknown_shoppers=True)

    assert outcome.statuses == [INVALID]
    assert outcome.errors[0] == {"value": ["A gift must be between 1 and 3."]}
    assert not Event.objects.exists()
