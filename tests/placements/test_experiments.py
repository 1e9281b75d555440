"""A/B tests on a placement: the API serves each shopper their sticky variant and logs it,
holdouts included; results from impressions and events; promotion; bad input refused."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from behavior.models import Event, EventKind, Shopper
from catalog.models import Product
from placements.experiments.models import Experiment, ExperimentState, Variant
from placements.experiments.results import experiment_results
from placements.experiments.selectors import running_test_from_db
from placements.experiments.services import (
    Plan,
    VariantSpec,
    create_experiment,
    promote_variant,
    start_experiment,
    stop_experiment,
)
from placements.models import Placement, Rule, RuleKind, RuleState
from recommender.models import Impression
from recommender.proof.drain import drain_impressions

pytestmark = pytest.mark.django_db

URL = "/api/v1/placements/home-for-you/recommendations"
SHOPPERS = [f"s-{n}" for n in range(24)]


def _experiment(*variants: VariantSpec, start: bool = True, **plan) -> Experiment:
    experiment = create_experiment(
        name="test", placement_name="home-for-you", variants=variants, plan=Plan(**plan)
    )
    return start_experiment(experiment=experiment, now=timezone.now()) if start else experiment


CONTROL = VariantSpec(name="control", kind="settings", weight=50)


def _get(api, **params) -> dict:
    response = api.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def _arm_of(experiment: Experiment, shopper: str) -> str:
    return running_test_from_db(placement=experiment.placement).arm_for(shopper).key


def test_each_shopper_gets_the_same_variant_on_every_request_and_it_is_logged(api, home):
    experiment = _experiment(
        CONTROL, VariantSpec(name="short", kind="settings", weight=50, settings={"k": 3})
    )

    first = {s: _get(api, shopper=s) for s in SHOPPERS}
    again = {s: _get(api, shopper=s) for s in SHOPPERS}

    keys = {f"{experiment.pk}:control": 5, f"{experiment.pk}:short": 3}
    for shopper, body in first.items():
        assert body["variant"] == again[shopper]["variant"] == _arm_of(experiment, shopper)
        assert body["count"] == keys[body["variant"]]
    assert {body["variant"] for body in first.values()} == set(keys)  # both arms served
    drain_impressions()
    logged = dict(Impression.objects.values_list("recommendation_id", "variant"))
    assert all(logged[uuid.UUID(b["recommendation_id"])] == b["variant"] for b in first.values())


def test_a_holdout_answers_an_empty_list_and_still_logs_the_exposure(api, home):
    experiment = _experiment(
        VariantSpec(name="control", kind="settings", weight=1),
        VariantSpec(name="holdout", kind="holdout", weight=99),
    )
    shopper = next(s for s in SHOPPERS if _arm_of(experiment, s).endswith(":holdout"))

    body = _get(api, shopper=shopper)

    assert body["count"] == 0 and body["results"] == []
    assert body["variant"] == f"{experiment.pk}:holdout"
    drain_impressions()
    shown = Impression.objects.get(pk=body["recommendation_id"])
    assert (shown.variant, shown.items, shown.shopper) == (body["variant"], [], shopper)


def test_an_anonymous_visitor_gets_the_control_and_is_not_counted(api, home):
    _experiment(
        VariantSpec(name="control", kind="settings", weight=1),
        VariantSpec(name="holdout", kind="holdout", weight=99),
    )

    body = _get(api)

    assert body["count"] == 5 and body["variant"] == ""


def test_a_model_variant_serves_its_algorithm_instead_of_the_champion(api, home):
    experiment = _experiment(
        CONTROL, VariantSpec(name="pop", kind="model", weight=50, serving_model="popularity")
    )
    shopper = next(s for s in SHOPPERS if _arm_of(experiment, s).endswith(":pop"))
    control = next(s for s in SHOPPERS if _arm_of(experiment, s).endswith(":control"))

    assert _get(api, shopper=shopper)["model_version"]["algorithm"] == "popularity"
    assert _get(api, shopper=control)["model_version"]["algorithm"] == "item_knn"


def test_a_rule_set_variant_applies_its_draft_only_to_its_shoppers(api, home):
    pin = Rule.objects.create(
        name="pin", kind=RuleKind.PIN, position=1, state=RuleState.DRAFT,
        product=Product.objects.get(sku="GAR-5"),
    )  # fmt: skip
    pin.placements.add(home)
    experiment = _experiment(
        CONTROL, VariantSpec(name="pinned", kind="rules", weight=50, rule_ids=(pin.pk,))
    )
    arms = {s: _arm_of(experiment, s) for s in SHOPPERS}

    firsts = {s: _get(api, shopper=s)["results"][0] for s in SHOPPERS}

    for shopper, first in firsts.items():
        pinned = first["product"]["sku"] == "GAR-5" and first["marks"] == ["pinned"]
        assert pinned == arms[shopper].endswith(":pinned")


def test_a_running_test_costs_no_query_on_a_repeat_request_and_stopping_shows_at_once(api, home):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    experiment = _experiment(
        VariantSpec(name="control", kind="settings", weight=1),
        VariantSpec(name="holdout", kind="holdout", weight=99),
    )
    shopper = next(s for s in SHOPPERS if _arm_of(experiment, s).endswith(":holdout"))
    _get(api, shopper=shopper)

    with CaptureQueriesContext(connection) as queries:
        assert _get(api, shopper=shopper)["count"] == 0
    assert not [q for q in queries.captured_queries if "placements_" in q["sql"]]

    stop_experiment(experiment=experiment, now=timezone.now())
    body = _get(api, shopper=shopper)
    assert body["count"] == 5 and body["variant"] == ""


def test_results_count_shoppers_clicks_conversions_and_revenue_per_variant(api, home):
    experiment = _experiment(
        CONTROL, VariantSpec(name="short", kind="settings", weight=50, settings={"k": 3})
    )
    bodies = {s: _get(api, shopper=s) for s in SHOPPERS}
    drain_impressions()
    clickers = SHOPPERS[:6]
    now = timezone.now()
    for n, shopper in enumerate(clickers):
        body = bodies[shopper]
        product = Product.objects.get(sku=body["results"][0]["product"]["sku"])
        who = Shopper.objects.get(external_id=shopper)
        common = {"shopper": who, "product": product, "occurred_at": now + timedelta(minutes=1)}
        rec = uuid.UUID(body["recommendation_id"])
        Event.objects.create(event_id=f"c{n}", kind=EventKind.VIEW, recommendation_id=rec, **common)
        if n % 2 == 0:  # every other clicker buys it, without the id: the click earns it
            Event.objects.create(event_id=f"p{n}", kind=EventKind.PURCHASE, value=2, **common)

    results = experiment_results(experiment=experiment, now=now + timedelta(minutes=5))

    by_name = {f.variant.name: f for f in results.figures}
    assert sum(f.exposures for f in results.figures) == len(SHOPPERS)
    for name, figure in by_name.items():
        mine = [s for s in SHOPPERS if bodies[s]["variant"].endswith(f":{name}")]
        assert figure.exposed == set(mine)
        assert figure.clicked == {s for s in clickers if s in mine}
        buyers = {s for i, s in enumerate(clickers) if i % 2 == 0 and s in mine}
        assert figure.converted == buyers
        expected = sum(
            2 * float(Product.objects.get(sku=bodies[s]["results"][0]["product"]["sku"]).price)
            for s in buyers
        )
        assert sum(figure.revenue.values()) == pytest.approx(expected)
    assert results.verdict.outcome == "keep_running"  # 24 shoppers, thousands planned
    assert results.ratio_check is not None and not results.ratio_check.flagged


def test_promoting_a_settings_variant_writes_it_to_the_placement_and_records_it(home):
    experiment = _experiment(
        CONTROL,
        VariantSpec(
            name="short", kind="settings", weight=50, settings={"k": 3, "max_per_brand": 2}
        ),
    )
    variant = Variant.objects.get(experiment=experiment, name="short")

    promote_variant(experiment=experiment, variant=variant, now=timezone.now())

    home.refresh_from_db()
    experiment.refresh_from_db()
    assert (home.k, home.max_per_brand) == (3, 2)
    assert experiment.state == ExperimentState.STOPPED
    assert experiment.promoted_variant == variant
    assert experiment.promotion["settings"]["k"] == [5, 3]


def test_promoting_a_rule_set_publishes_its_drafts(home):
    pin = Rule.objects.create(
        name="pin", kind=RuleKind.PIN, position=1, state=RuleState.DRAFT,
        product=Product.objects.get(sku="GAR-5"),
    )  # fmt: skip
    pin.placements.add(home)
    experiment = _experiment(
        CONTROL, VariantSpec(name="pinned", kind="rules", weight=50, rule_ids=(pin.pk,))
    )

    promote_variant(
        experiment=experiment, variant=experiment.variants.get(name="pinned"), now=timezone.now()
    )

    pin.refresh_from_db()
    assert pin.state == RuleState.LIVE


def test_a_holdout_cannot_be_promoted(home):
    experiment = _experiment(CONTROL, VariantSpec(name="holdout", kind="holdout", weight=50))

    with pytest.raises(ValidationError) as refused:
        promote_variant(
            experiment=experiment,
            variant=experiment.variants.get(name="holdout"),
            now=timezone.now(),
        )

    assert "variant" in refused.value.message_dict
    assert Experiment.objects.get().promoted_variant is None


@pytest.mark.parametrize(
    ("placement", "variants", "field"),
    [
        ("home-for-you", [CONTROL, VariantSpec(name="b", kind="settings", weight=40)], "weight"),
        ("home-for-you", [VariantSpec(name="only", kind="settings", weight=100)], "variants"),
        ("nowhere", [CONTROL, VariantSpec(name="b", kind="holdout", weight=50)], "placement"),
        ("home-for-you", [CONTROL, VariantSpec(name="control", kind="holdout", weight=50)], "name"),
        (
            "home-for-you",
            [CONTROL, VariantSpec(name="b", kind="settings", weight=50, settings={"k": 0})],
            "settings",
        ),
        (
            "home-for-you",
            [CONTROL, VariantSpec(name="b", kind="settings", weight=50, settings={"colour": 1})],
            "settings",
        ),
        (
            "home-for-you",
            [CONTROL, VariantSpec(name="b", kind="model", weight=50, serving_model="magic")],
            "serving_model",
        ),
        ("home-for-you", [CONTROL, VariantSpec(name="b", kind="rules", weight=50)], "rules"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(home, placement, variants, field):
    with pytest.raises(ValidationError) as refused:
        create_experiment(name="bad", placement_name=placement, variants=variants, plan=Plan())

    assert field in refused.value.message_dict
    assert not Experiment.objects.exists() and not Variant.objects.exists()


def test_a_second_running_experiment_on_the_same_placement_is_refused(home):
    _experiment(CONTROL, VariantSpec(name="b", kind="holdout", weight=50))
    second = _experiment(CONTROL, VariantSpec(name="b", kind="holdout", weight=50), start=False)

    with pytest.raises(ValidationError) as refused:
        start_experiment(experiment=second, now=timezone.now())

    assert "placement" in refused.value.message_dict
    second.refresh_from_db()
    assert second.state == ExperimentState.DRAFT and second.started_at is None


def test_the_experiments_api_lists_tests_and_gives_results_with_a_token(api, home):
    experiment = _experiment(CONTROL, VariantSpec(name="b", kind="holdout", weight=50))
    _get(api, shopper="s-1")
    drain_impressions()

    listed = api.get("/api/v1/experiments")
    detail = api.get(f"/api/v1/experiments/{experiment.pk}")

    assert listed.status_code == 200 and listed.json()[0]["name"] == "test"
    body = detail.json()
    assert body["outcome"] == "keep_running" and body["winner"] is None
    assert sum(f["shoppers"] for f in body["figures"]) == 1
    assert body["planned_sample"] == experiment.planned_sample > 1000
    assert api.get("/api/v1/experiments/999999").status_code == 404
    assert APIClient().get("/api/v1/experiments").status_code in (401, 403)


def test_the_placement_is_untouched_by_a_draft_experiment(api, home):
    _experiment(CONTROL, VariantSpec(name="b", kind="holdout", weight=50), start=False)

    assert all(_get(api, shopper=s)["variant"] == "" for s in SHOPPERS[:4])
    assert Placement.objects.get().k == 5
