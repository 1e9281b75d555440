"""The A/B test pages: reading needs the view permission, creating, starting and promoting the
manage permission; the form names what is wrong and stores nothing; SRM and the fixed-horizon
outcome show."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from placements.experiments.models import Experiment, ExperimentState
from placements.experiments.services import Plan, VariantSpec, create_experiment
from placements.models import Placement
from recommender.models import Impression

pytestmark = pytest.mark.django_db


@pytest.fixture
def placement() -> Placement:
    return Placement.objects.create(name="home", title="Home", strategy="for_you", k=5)


@pytest.fixture
def experiment(placement) -> Experiment:
    return create_experiment(
        name="ALS or not",
        placement_name="home",
        variants=[
            VariantSpec(name="control", kind="settings", weight=50),
            VariantSpec(name="short", kind="settings", weight=50, settings={"k": 3}),
        ],
        plan=Plan(guardrails=("shop_revenue", "conversion")),
    )


def _client(client, user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def _form(**changes) -> dict:
    data = {
        "name": "Shorter list",
        "placement": "home",
        "primary_metric": "ctr",
        "baseline_rate": "0.05",
        "revenue_cv": "5",
        "minimum_detectable_effect": "0.05",
        "alpha": "0.05",
        "power": "0.8",
        "variant-TOTAL_FORMS": "4",
        "variant-INITIAL_FORMS": "0",
        "variant-0-name": "control",
        "variant-0-kind": "settings",
        "variant-0-weight": "50",
        "variant-1-name": "short",
        "variant-1-kind": "settings",
        "variant-1-weight": "50",
        "variant-1-settings": '{"k": 3}',
    }
    return {**data, **changes}


def test_reading_needs_the_view_permission(client, staff_user, experiment):
    client.force_login(staff_user)
    assert client.get("/experiments/").status_code == 403

    reader = _client(client, staff_user, "view_experiment")
    page = reader.get(f"/experiments/{experiment.pk}/").content.decode()

    assert reader.get("/experiments/").status_code == 200
    assert "Keep running" in page and "fixed-horizon" in page
    # What each arm serves, in the placement's words (not a settings dict).
    assert "The placement as it is" in page and "The placement with k 3" in page
    assert "{&#x27;k&#x27;: 3}" not in page and "{'k': 3}" not in page
    assert "Start" not in page  # no manage permission: no buttons
    assert reader.post(f"/experiments/{experiment.pk}/start/").status_code == 403


def test_a_manager_creates_a_draft_through_the_form(client, staff_user, placement):
    manager = _client(client, staff_user, "view_experiment", "change_experiment")

    response = manager.post("/experiments/new/", _form())

    created = Experiment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/experiments/{created.pk}/"
    assert [v.name for v in created.variants.all()] == ["control", "short"]
    assert created.planned_sample > 1000


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"variant-1-weight": "40"}, "weight"),
        ({f"variant-1-{f}": "" for f in ("name", "kind", "weight", "settings")}, "variants"),
        ({"placement": "nowhere"}, "placement"),
        ({"variant-1-settings": "{k: 3"}, "settings"),
    ],
)
def test_bad_input_is_a_form_error_naming_the_field_and_stores_nothing(
    client, staff_user, placement, changes, named
):
    manager = _client(client, staff_user, "view_experiment", "change_experiment")

    response = manager.post("/experiments/new/", _form(**changes))

    errors = re.findall(r'<p class="msg msg-error">(.*?)</p>', response.content.decode())
    assert response.status_code == 400
    assert any(named in error.lower() for error in errors), errors
    assert not Experiment.objects.exists()


def test_a_manager_starts_and_promotes(client, staff_user, experiment, placement):
    manager = _client(client, staff_user, "view_experiment", "change_experiment")
    short = experiment.variants.get(name="short")

    manager.post(f"/experiments/{experiment.pk}/start/")
    manager.post(f"/experiments/{experiment.pk}/promote/{short.pk}/")

    experiment.refresh_from_db()
    placement.refresh_from_db()
    assert experiment.state == ExperimentState.STOPPED and experiment.promoted_variant == short
    assert placement.k == 3


def test_a_skewed_split_shows_the_sample_ratio_warning(client, staff_user, experiment):
    experiment.state, experiment.started_at = ExperimentState.RUNNING, timezone.now()
    experiment.save()
    counts = {"control": 600, "short": 400}  # on a planned 50/50: p far below 0.001
    Impression.objects.bulk_create(
        Impression(
            recommendation_id=uuid.uuid4(),
            placement="home",
            variant=f"{experiment.pk}:{name}",
            items=[],
            shopper=f"{name}-{n}",
            shown_at=timezone.now(),
        )
        for name, count in counts.items()
        for n in range(count)
    )
    reader = _client(client, staff_user, "view_experiment")

    page = reader.get(f"/experiments/{experiment.pk}/").content.decode()

    assert "Sample ratio mismatch" in page
    assert "600" in page and "400" in page
    assert "Shop revenue per shopper" in page and "(guardrail)" in page
