"""The traffic simulator meets the A/B tests: simulated shoppers visit a placement through the
real API, a running experiment assigns each a variant, the simulator plants a click lift on one
variant by name, and the experiment's results (impressions and events, as the dashboard reads
them) find the planted lift, and no difference between identical variants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from behavior.models import Shopper
from demo.experiment import DEMO_PLACEMENT
from demo.services import reset_demo_data
from demo.simulation import (
    SimulationError,
    in_process_api,
    simulate_demo_week,
    simulate_traffic,
)
from demo.traffic import ShopperModel, lift_of, parse_lifts
from placements.experiments.models import Experiment
from placements.experiments.results import experiment_results
from placements.experiments.services import (
    Plan,
    VariantSpec,
    create_experiment,
    start_experiment,
)
from placements.experiments.stats import NO_DIFFERENCE, WINNER
from placements.models import Placement
from recommender.models import Impression
from recommender.proof.drain import drain_impressions
from tests.serving.conftest import _fresh_serving_state, shop, trained_shop  # noqa: F401

START = datetime(2011, 12, 10, tzinfo=UTC)
SHOPPERS = 500
# One visit per shopper, five items, few clicks: a shopper's chance of clicking stays far
# below one (about 14 %), so a x2 click lift shows as nearly x2 on the share of shoppers
# who clicked, the test's unit. No product page: only the placement's list is under test.
ONE_VISIT = ShopperModel(
    click_base=0.02, click_taste=0.06, visits_per_day=1.0, product_page_share=0.0
)


def test_a_variant_lift_is_read_by_name_or_by_the_key_a_response_carries():
    lifts = parse_lifts(["B=2", "7:A=0.5"])

    assert lift_of("12:B", lifts) == 2.0  # the placement API's "<experiment id>:<name>"
    assert lift_of("7:A", lifts) == 0.5
    assert lift_of("8:A", lifts) == 1.0  # another test's A: not planted
    assert lift_of("", lifts) == 1.0  # no test running


@pytest.mark.parametrize("bad", ["B", "B=", "=1.1", "B=-1", "B=nan", "B=x"])
def test_a_malformed_lift_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="VARIANT=MULTIPLIER"):
        parse_lifts([bad])


@pytest.fixture
def ab_shop(trained_shop):  # noqa: F811
    """The serving shop with a placement and SHOPPERS more shoppers, each declaring one of the
    three taste groups (no history: the placement serves them its cold-start list)."""
    placement = Placement(name="home-for-you", title="Home", strategy="for_you", k=5)
    placement.full_clean()
    placement.save()
    categories = trained_shop["categories"]
    shoppers = Shopper.objects.bulk_create(
        Shopper(external_id=f"ab-{n}", country="DE") for n in range(SHOPPERS)
    )
    Shopper.interests.through.objects.bulk_create(
        Shopper.interests.through(shopper_id=s.pk, category_id=categories[n % 3].pk)
        for n, s in enumerate(shoppers)
    )
    return [s.external_id for s in shoppers]


def _running_test() -> Experiment:
    """A and B, both the placement as it is, planned to find a doubled CTR (a few dozen
    shoppers each), with a fixed salt so the split, like the simulation, is seeded."""
    experiment = create_experiment(
        name="x2",
        placement_name="home-for-you",
        variants=[
            VariantSpec(name="A", kind="settings", weight=50),
            VariantSpec(name="B", kind="settings", weight=50),
        ],
        plan=Plan(baseline_rate=0.15, minimum_detectable_effect=1.0),
    )
    experiment.salt = "simulated-ab"
    experiment.save(update_fields=["salt"])
    return start_experiment(experiment=experiment, now=START)


def _simulate(shoppers: list[str], lifts: dict[str, float]):
    report = simulate_traffic(
        api=in_process_api(),
        shoppers=shoppers,
        start=START,
        days=1,
        seed=23,
        model=ONE_VISIT,
        placement="home-for-you",
        lifts=lifts,
    )
    drain_impressions()
    return report


@pytest.mark.django_db(transaction=False)
def test_a_planted_lift_on_b_is_found_by_the_experiment_through_the_api(ab_shop):
    experiment = _running_test()

    report = _simulate(ab_shop, {"B": 2.0})
    results = experiment_results(experiment=experiment, now=START + timedelta(days=2))

    a, b = results.figures
    keys = {f"{experiment.pk}:A", f"{experiment.pk}:B"}
    assert set(report.per_variant) == keys  # every response carried its variant
    assert a.impressions + b.impressions == report.responses == SHOPPERS
    assert Impression.objects.filter(variant__in=keys).count() == SHOPPERS
    assert a.exposures + b.exposures == SHOPPERS
    assert not results.ratio_check.flagged
    # The simulator's clicks on B were doubled: B's clicks per response about twice A's.
    per_response = {
        k: clicks / responses for k, (responses, clicks, _b) in report.per_variant.items()
    }
    assert per_response[f"{experiment.pk}:B"] > 1.5 * per_response[f"{experiment.pk}:A"]
    ctr = results.primary.comparisons[0]
    assert ctr.challenger > ctr.control
    assert ctr.low > 0, f"B - A = {ctr.difference:.3f} [{ctr.low:.3f}, {ctr.high:.3f}]"
    assert results.verdict.outcome == WINNER and results.winner.name == "B"


@pytest.mark.django_db(transaction=False)
def test_identical_variants_show_no_significant_difference_through_the_api(ab_shop):
    experiment = _running_test()

    report = _simulate(ab_shop, {"B": 1.0})
    results = experiment_results(experiment=experiment, now=START + timedelta(days=2))

    assert report.responses == SHOPPERS
    assert min(f.exposures for f in results.figures) >= results.experiment.planned_sample
    ctr = results.primary.comparisons[0]
    assert ctr.low < 0 < ctr.high, f"B - A = {ctr.difference:.3f} [{ctr.low:.3f}, {ctr.high:.3f}]"
    assert results.verdict.outcome == NO_DIFFERENCE
    assert sum(len(f.clicked) for f in results.figures) > 30  # enough clicks to have found one


@pytest.mark.django_db(transaction=False)
def test_simulating_an_unknown_placement_stops_with_its_name(trained_shop):  # noqa: F811
    with pytest.raises(SimulationError, match="nowhere"):
        simulate_traffic(
            api=in_process_api(),
            shoppers=["s-1"],
            start=START,
            days=1,
            seed=1,
            model=ONE_VISIT,
            placement="nowhere",
        )


def test_the_command_refuses_a_bad_lift_or_an_unknown_placement(db):
    with pytest.raises(CommandError, match="--lift"):
        call_command("simulate_traffic", "--lift", "B")
    with pytest.raises(CommandError, match="--placement"):
        call_command("simulate_traffic", "--placement", "nowhere")


@pytest.mark.django_db(transaction=False)
def test_the_demo_week_runs_an_experiment_the_ab_page_can_show_and_reset_removes_it(
    trained_shop,  # noqa: F811
):
    now = START + timedelta(days=2)

    report = simulate_demo_week(seed=5, now=now, shoppers=40, event_prefix="demo-sim-", days=2)

    experiment = Experiment.objects.get(placement__name=DEMO_PLACEMENT)
    assert experiment.state == "running" and experiment.started_at == START
    results = experiment_results(experiment=experiment, now=now)
    assert all(f.exposures > 0 for f in results.figures)  # both variants served and logged
    served = sum(tally[0] for variant, tally in report.per_variant.items() if variant)
    assert sum(f.impressions for f in results.figures) == served > 0
    assert not results.ratio_check.flagged

    deleted = reset_demo_data()

    assert deleted["experiments and placements"] >= 2
    assert not Placement.objects.filter(name=DEMO_PLACEMENT).exists()
