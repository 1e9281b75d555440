"""The traffic simulator: its planted click and buy model, and a simulated run through the real
API whose attributed clicks and purchases match what it planted."""

from __future__ import annotations

import io
import random
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.roles import create_api_client
from behavior.models import Event
from demo.simulation import HttpApi, in_process_api, simulate_traffic, store_simulated_days
from demo.traffic import (
    ShopperModel,
    TrafficReport,
    buy_probability,
    click_probability,
    react,
)
from placements.experiments.services import (
    Plan,
    VariantSpec,
    create_experiment,
    start_experiment,
)
from placements.models import Placement
from recommender.models import Impression, PlacementKpi
from recommender.proof.drain import drain_impressions
from tests.serving.conftest import _fresh_serving_state, shop, trained_shop  # noqa: F401

MODEL = ShopperModel(click_base=0.02, click_taste=0.2, position_decay=0.9, buy_taste=0.4)


def test_a_matching_item_is_clicked_more_and_lower_positions_less():
    top_match = click_probability(match=1, position=1, model=MODEL)
    top_other = click_probability(match=0, position=1, model=MODEL)
    third_match = click_probability(match=1, position=3, model=MODEL)

    assert top_match == pytest.approx(0.22)
    assert top_other == pytest.approx(0.02)
    assert third_match == pytest.approx(0.22 * 0.81)
    assert buy_probability(match=1, model=MODEL) > buy_probability(match=0, model=MODEL)


def test_a_variant_lift_multiplies_the_click_rate_and_never_passes_one():
    plain = click_probability(match=1, position=2, model=MODEL)

    assert click_probability(match=1, position=2, lift=1.05, model=MODEL) == pytest.approx(
        plain * 1.05
    )
    assert click_probability(match=1, position=1, lift=100, model=MODEL) == 1.0


@pytest.mark.parametrize("bad", [{"click_base": 1.5}, {"position_decay": 0}, {"buy_taste": -0.1}])
def test_a_model_outside_probabilities_is_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ShopperModel(**bad)


def test_reactions_follow_the_planted_rates_over_many_responses():
    rng = random.Random(5)
    report = TrafficReport()
    for _ in range(4000):
        react(skus=list("abcde"), matches=[1, 0, 1, 0, 0], rng=rng, model=MODEL, report=report)

    assert report.clicks.within() and report.purchases.within()
    assert report.clicks.observed > 1000  # the test has the power to see a wrong rate


@pytest.fixture
def tasteful(trained_shop):  # noqa: F811
    """The serving shop's shoppers declare the taste group they browse (shopper i: group i % 3)."""
    for n, shopper in enumerate(trained_shop["shoppers"]):
        shopper.interests.add(trained_shop["categories"][n % 3])
    return trained_shop


@pytest.mark.django_db(transaction=False)
def test_a_simulated_week_through_the_api_is_attributed_at_its_planted_rates(tasteful):
    start = datetime(2011, 12, 10, tzinfo=UTC)
    shoppers = [s.external_id for s in tasteful["shoppers"]]
    eager = ShopperModel(
        click_base=0.05, click_taste=0.35, buy_base=0.15, buy_taste=0.45, visits_per_day=1.0
    )

    report = simulate_traffic(
        api=in_process_api(), shoppers=shoppers, start=start, days=3, seed=11, model=eager
    )
    stored = store_simulated_days(start=start, days=3, now=start + timedelta(days=4))

    assert stored == report.responses == Impression.objects.count()
    rows = PlacementKpi.objects.all()
    assert sum(r.impressions for r in rows) == report.responses
    # Every click and purchase came back through the events API and was attributed.
    assert sum(r.clicks for r in rows) == report.clicks.observed
    assert sum(r.purchases for r in rows) == report.purchases.observed
    # And they happened at the planted rates: within the 99.9 % binomial interval.
    assert report.clicks.within() and report.purchases.within()
    assert report.purchases.observed >= 20
    first = Impression.objects.order_by("shown_at").first()
    assert start <= first.shown_at < start + timedelta(days=1)  # on the simulated clock
    # Every click follows its showing, a product page's similar list (cached, so generated
    # before it was shown again) included: the KPI page once counted 136 clicks on 54 showings.
    shown_at = dict(Impression.objects.values_list("recommendation_id", "shown_at"))
    clicks = Event.objects.filter(recommendation_id__isnull=False)
    assert clicks.count() == report.clicks.observed
    assert all(e.occurred_at >= shown_at[e.recommendation_id] for e in clicks)
    # And nothing happens after the simulated days (for the demo, its "now").
    assert not Event.objects.filter(occurred_at__gt=start + timedelta(days=3)).exists()


def test_the_command_refuses_bad_arguments_with_a_message(db):
    with pytest.raises(CommandError, match="--days"):
        call_command("simulate_traffic", "--days", "0")
    with pytest.raises(CommandError, match="--token"):
        call_command("simulate_traffic", "--url", "http://localhost:1")
    with pytest.raises(CommandError, match="no shoppers"):
        call_command("simulate_traffic", "--days", "1")


@pytest.mark.django_db(transaction=False)
def test_a_run_on_a_placement_splits_its_shoppers_between_the_running_test_s_variants(tasteful):
    Placement.objects.create(name="home-for-you", title="Home", strategy="for_you", k=5)
    variants = [
        VariantSpec(name="control", kind="settings", weight=50),
        VariantSpec(name="holdout", kind="holdout", weight=50),
    ]
    experiment = create_experiment(
        name="holdout", placement_name="home-for-you", variants=variants, plan=Plan()
    )
    start_experiment(experiment=experiment, now=timezone.now())
    shoppers = [s.external_id for s in tasteful["shoppers"]]

    report = simulate_traffic(
        api=in_process_api(),
        shoppers=shoppers,
        start=datetime(2011, 12, 10, tzinfo=UTC),
        days=1,
        seed=3,
        placement="home-for-you",
    )
    store_simulated_days(start=datetime(2011, 12, 10, tzinfo=UTC), days=1, now=timezone.now())

    served = {f"{experiment.pk}:control", f"{experiment.pk}:holdout"}
    on_placement = Impression.objects.filter(placement="home-for-you")
    assert set(on_placement.values_list("variant", flat=True)) == served
    # The holdout's empty lists are exposures, but nothing to react to.
    assert report.per_variant[f"{experiment.pk}:control"][0] > 0
    assert f"{experiment.pk}:holdout" not in report.per_variant


def test_the_command_refuses_an_unknown_placement(db):
    with pytest.raises(CommandError, match="no active placement named 'nowhere'"):
        call_command("simulate_traffic", "--placement", "nowhere")


def test_the_url_mode_sends_its_traffic_to_a_running_server_with_the_standard_library(
    tasteful, live_server, monkeypatch
):
    monkeypatch.setitem(sys.modules, "requests", None)  # dev-only: the product runs without it
    token = create_api_client(name="remote-simulator", role="backend").token
    shoppers = [s.external_id for s in tasteful["shoppers"]]
    before = Event.objects.count()
    eager = ShopperModel(click_base=0.3, click_taste=0.5, buy_base=0.3, visits_per_day=1.0)

    report = simulate_traffic(
        api=HttpApi(url=live_server.url, token=token),
        shoppers=shoppers,
        start=timezone.now() - timedelta(days=1),
        days=1,
        seed=4,
        model=eager,
        simulated_clock=False,
        event_prefix="remote-",
    )

    assert report.responses > 0 and report.clicks.observed > 0
    assert drain_impressions() == report.responses  # every answer came from the live server
    sent = Event.objects.filter(event_id__startswith="remote-")
    assert sent.count() == Event.objects.count() - before
    assert sent.filter(kind="view").count() == report.clicks.observed
    assert sent.filter(kind="purchase").count() == report.purchases.observed
    assert sent.exclude(recommendation_id=None).count() == report.clicks.observed


def test_the_url_mode_reports_a_refused_token_and_a_server_that_does_not_answer(
    tasteful, live_server
):
    with pytest.raises(CommandError, match=r"HTTP 401"):
        call_command(
            "simulate_traffic", "--url", live_server.url, "--token", "wrong", "--days", "1",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError, match="no answer from the server"):
        call_command(
            "simulate_traffic", "--url", "http://127.0.0.1:1", "--token", "t", "--days", "1",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError, match="http"):
        call_command("simulate_traffic", "--url", "file:///etc/passwd", "--token", "t")
