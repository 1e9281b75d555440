"""The demo's A/B test: a home placement and a running experiment on it, which the simulated
week visits, so the A/B page has a test with figures as soon as the demo is built.

The challenger caps each category at two items (more variety on the page); the simulator
plants ``DEMO_LIFT`` more clicks on it, a known answer the results page should come to once
the planned sample is reached (a demo week is far short of it: the page says so).
"""

from __future__ import annotations

from datetime import datetime

from placements.experiments.models import Experiment
from placements.experiments.services import (
    Plan,
    VariantSpec,
    create_experiment,
    start_experiment,
)
from placements.models import Placement
from placements.placement_services import save_placement

DEMO_PLACEMENT = "demo-home-for-you"
DEMO_EXPERIMENT = "[demo] More variety on the home page"
CHALLENGER = "variety"
DEMO_LIFT = {CHALLENGER: 1.10}  # +10 % clicks, planted by the simulator


def start_demo_experiment(*, seed: int, now: datetime) -> str:
    """Make the demo placement (if missing) and start the demo experiment on it at ``now``,
    salted from ``seed`` so a seed splits its shoppers the same way; returns the placement's
    name. A test already running there (a rebuilt shop) is left as it is."""
    placement = Placement.objects.filter(name=DEMO_PLACEMENT).first()
    if placement is None:
        placement = save_placement(
            placement=Placement(name=DEMO_PLACEMENT, title="[demo] Home: for you", k=10),
            reason="The demo's home placement.",
        )
    if Experiment.objects.filter(placement=placement, state="running").exists():
        return DEMO_PLACEMENT
    experiment = create_experiment(
        name=DEMO_EXPERIMENT,
        placement_name=DEMO_PLACEMENT,
        variants=[
            VariantSpec(name="control", kind="settings", weight=50),
            VariantSpec(
                name=CHALLENGER, kind="settings", weight=50, settings={"max_per_category": 2}
            ),
        ],
        plan=Plan(guardrails=("conversion", "revenue")),
    )
    experiment.salt = f"demo-{seed}"
    experiment.save(update_fields=["salt"])
    start_experiment(experiment=experiment, now=now)
    return DEMO_PLACEMENT


def delete_demo_experiments() -> int:
    """Delete the demo's experiments and then its placement (experiments protect it)."""
    deleted = Experiment.objects.filter(placement__name=DEMO_PLACEMENT).delete()[0]
    return deleted + Placement.objects.filter(name=DEMO_PLACEMENT).delete()[0]
