"""Reads of experiments: the running test of a placement as serving needs it (an ``Arm`` per
variant, built once per setup version by ``placements.selectors``), and the dashboard's
lists."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from placements.experiments.models import (
    Experiment,
    ExperimentState,
    Metric,
    Variant,
    VariantKind,
)
from placements.experiments.stats import assign
from placements.models import Placement, Rule

METRIC_CHOICES = Metric.choices
VARIANT_KIND_CHOICES = VariantKind.choices


@dataclass(frozen=True)
class Arm:
    """A variant as served: what it changes on the placement."""

    key: str  # the impression's variant ("<experiment id>:<name>")
    name: str
    kind: str
    weight: int
    settings: dict[str, Any]
    rules: tuple[Rule, ...]  # a rule set's chosen rules (drafts usually)
    keep_live_rules: bool

    @property
    def is_holdout(self) -> bool:
        return self.kind == VariantKind.HOLDOUT

    @property
    def is_rule_set(self) -> bool:
        return self.kind == VariantKind.RULES

    def applied_to(self, placement: Placement) -> Placement:
        """An unsaved copy of ``placement`` with this arm's settings (the placement itself is
        the per-process memo's and must not change)."""
        if not self.settings:
            return placement
        changed = copy.copy(placement)
        for name, value in self.settings.items():
            setattr(changed, name, value)
        return changed


@dataclass(frozen=True)
class RunningTest:
    experiment_id: int
    salt: str
    arms: tuple[Arm, ...]  # the control first

    def arm_for(self, shopper: str) -> Arm:
        """The shopper's arm, sticky across requests and processes; anonymous: the control."""
        if not shopper:
            return self.arms[0]
        weights = [arm.weight for arm in self.arms]
        return self.arms[assign(salt=self.salt, shopper=shopper, weights=weights)]


def running_test_from_db(*, placement: Placement) -> RunningTest | None:
    """The running experiment on ``placement`` with its variants and their rules (three
    queries; ``placements.selectors`` memoises the answer under the setup version)."""
    experiment = Experiment.objects.filter(
        placement=placement, state=ExperimentState.RUNNING
    ).first()
    if experiment is None:
        return None
    variants = Variant.objects.filter(experiment=experiment).prefetch_related("rules__product")
    arms = tuple(
        Arm(
            key=variant.key,
            name=variant.name,
            kind=variant.kind,
            weight=variant.weight,
            settings=dict(variant.settings or {}),
            rules=tuple(variant.rules.all()),
            keep_live_rules=variant.keep_live_rules,
        )
        for variant in variants
    )
    return RunningTest(experiment_id=experiment.pk, salt=experiment.salt, arms=arms)


def experiment_list() -> list[Experiment]:
    return list(Experiment.objects.select_related("placement").prefetch_related("variants"))


def experiment_by_id(*, experiment_id: int) -> Experiment | None:
    if not 0 < experiment_id < 2**63:  # past a bigint: no such row, not a database error
        return None
    found = Experiment.objects.select_related("placement", "promoted_variant")
    return found.prefetch_related("variants__rules").filter(pk=experiment_id).first()


def variant_of(*, experiment: Experiment, variant_id: int) -> Variant | None:
    return Variant.objects.filter(experiment=experiment, pk=variant_id).first()
