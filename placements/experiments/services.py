"""Changing experiments: create (every input checked first, nothing stored on a refusal),
start, stop, and promote a variant to the placement's live version (recorded)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from placements.experiments.models import (
    OVERRIDABLE,
    Experiment,
    ExperimentState,
    Metric,
    Variant,
    VariantKind,
)
from placements.experiments.stats import planned_sample_for_mean, planned_sample_for_rate
from placements.models import Placement, Rule, RuleState
from placements.rule_services import publish_rule

TOTAL_WEIGHT = 100


@dataclass(frozen=True)
class VariantSpec:
    """A variant as asked for: ``settings`` for a settings variant, ``serving_model`` for a
    model variant, ``rule_ids`` (+ ``keep_live_rules``) for a rule set, nothing for a holdout."""

    name: str
    kind: str
    weight: int
    settings: dict[str, Any] = field(default_factory=dict)
    serving_model: str = ""
    rule_ids: tuple[int, ...] = ()
    keep_live_rules: bool = True


@dataclass(frozen=True)
class Plan:
    """What decides a test and how many shoppers it needs."""

    primary_metric: str = Metric.CTR
    guardrails: tuple[str, ...] = ()
    baseline_rate: float = 0.05
    revenue_cv: float = 5.0
    minimum_detectable_effect: float = 0.05
    alpha: float = 0.05
    power: float = 0.8


def create_experiment(
    *, name: str, placement_name: str, variants: Sequence[VariantSpec], plan: Plan
) -> Experiment:
    """A draft experiment with its variants (the first is the control); ValidationError naming
    the field, and nothing stored, when any input is wrong."""
    placement = Placement.objects.filter(name=placement_name).first()
    if placement is None:
        raise ValidationError({"placement": f"No placement named {placement_name[:80]!r}."})
    experiment = Experiment(name=name, placement=placement, **_plan_fields(plan))
    errors: dict[str, list[str]] = {}
    try:
        experiment.full_clean(exclude=["planned_sample"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    errors.update(_plan_errors(plan))
    rows, variant_errors = _checked_variants(placement, variants)
    for key, message in variant_errors.items():
        errors.setdefault(key, []).append(message)
    if errors:
        raise ValidationError(errors)
    experiment.planned_sample = planned_sample(experiment)
    with transaction.atomic():
        experiment.save()
        for position, (variant, rule_ids) in enumerate(rows):
            variant.experiment, variant.position = experiment, position
            variant.save()
            variant.rules.set(rule_ids)
    return experiment


def planned_sample(experiment: Experiment) -> int:
    """Shoppers per variant the experiment's primary metric needs (``stats``)."""
    common = {
        "lift": experiment.minimum_detectable_effect,
        "alpha": experiment.alpha,
        "power": experiment.power,
    }
    if experiment.primary_metric in Metric.rates():
        return planned_sample_for_rate(baseline=experiment.baseline_rate, **common)
    return planned_sample_for_mean(cv=experiment.revenue_cv, **common)


def _plan_fields(plan: Plan) -> dict[str, Any]:
    return {
        "primary_metric": plan.primary_metric,
        "guardrails": list(plan.guardrails),
        "baseline_rate": plan.baseline_rate,
        "revenue_cv": plan.revenue_cv,
        "minimum_detectable_effect": plan.minimum_detectable_effect,
        "alpha": plan.alpha,
        "power": plan.power,
    }


def _plan_errors(plan: Plan) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    unknown = [g for g in plan.guardrails if g not in Metric.values]
    if unknown:
        errors["guardrails"] = [f"Unknown metric: {', '.join(unknown)}."]
    elif plan.primary_metric in plan.guardrails:
        errors["guardrails"] = ["The primary metric is not also a guardrail."]
    lifted = plan.baseline_rate * (1 + plan.minimum_detectable_effect)
    if plan.primary_metric in Metric.rates() and not 0 < lifted < 1:
        errors["minimum_detectable_effect"] = ["The lifted rate must stay below 1."]
    return errors


def _checked_variants(
    placement: Placement, specs: Sequence[VariantSpec]
) -> tuple[list[tuple[Variant, list[int]]], dict[str, str]]:
    """Unsaved variants with their rule ids, and what is wrong with them by field."""
    errors: dict[str, str] = {}
    if len(specs) < 2:
        errors["variants"] = "At least two variants: a control and a challenger."
    total = sum(spec.weight for spec in specs)
    if total != TOTAL_WEIGHT:
        errors["weight"] = f"The variants' weights sum to {total}; they must sum to 100."
    names = [spec.name for spec in specs]
    if len(set(names)) < len(names):
        errors["name"] = "Each variant needs its own name."
    rows = []
    for spec in specs:
        variant = Variant(
            name=spec.name,
            kind=spec.kind,
            weight=spec.weight,
            settings=_settings_of(spec),
            keep_live_rules=spec.keep_live_rules,
        )
        try:
            variant.full_clean(exclude=["experiment"], validate_unique=False)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, f"{spec.name}: {' '.join(messages)}")
        errors.update({k: v for k, v in _kind_errors(placement, spec).items() if k not in errors})
        rows.append((variant, list(spec.rule_ids)))
    return rows, errors


def _settings_of(spec: VariantSpec) -> dict[str, Any]:
    if spec.kind == VariantKind.MODEL:
        return {"serving_model": spec.serving_model}
    return dict(spec.settings) if spec.kind == VariantKind.SETTINGS else {}


def _kind_errors(placement: Placement, spec: VariantSpec) -> dict[str, str]:
    """What is wrong with a variant for what it is: the overridden placement must pass the
    placement's own checks, a model must be named, rules must be on the placement."""
    if spec.kind == VariantKind.MODEL and not spec.serving_model:
        return {"serving_model": f"{spec.name}: a model variant names the algorithm it serves."}
    if spec.kind == VariantKind.SETTINGS and not isinstance(spec.settings, dict):
        return {"settings": f"{spec.name}: an object of placement settings."}
    if spec.kind in (VariantKind.SETTINGS, VariantKind.MODEL):
        settings = _settings_of(spec)
        unknown = sorted(set(settings) - set(OVERRIDABLE))
        if unknown:
            return {"settings": f"{spec.name}: not a placement setting: {', '.join(unknown)}."}
        changed = copy.copy(placement)
        for key, value in settings.items():
            setattr(changed, key, value)
        try:
            changed.full_clean(exclude=["name"], validate_unique=False)
        except ValidationError as exc:
            field = "serving_model" if spec.kind == VariantKind.MODEL else "settings"
            return {field: f"{spec.name}: {' '.join(exc.messages)}"}
    if spec.kind == VariantKind.RULES:
        found = set(
            Rule.objects.filter(pk__in=spec.rule_ids, placements=placement).values_list(
                "pk", flat=True
            )
        )
        if set(spec.rule_ids) - found:
            return {"rules": f"{spec.name}: every rule must be one of this placement's."}
        if not spec.rule_ids and spec.keep_live_rules:
            return {"rules": f"{spec.name}: choose rules, or drop the live ones."}
    return {}


def start_experiment(*, experiment: Experiment, now: datetime) -> Experiment:
    """Draft → running from ``now``; ValidationError when it is not a draft or another test
    already runs on the placement (one at a time, also enforced by a constraint)."""
    if experiment.state != ExperimentState.DRAFT:
        raise ValidationError({"state": "Only a draft experiment can start."})
    other = Experiment.objects.filter(
        placement=experiment.placement, state=ExperimentState.RUNNING
    ).first()
    if other is not None:
        raise ValidationError(
            {"placement": f"{other.name!r} is already running on this placement; stop it first."}
        )
    experiment.state, experiment.started_at = ExperimentState.RUNNING, now
    experiment.planned_sample = planned_sample(experiment)
    try:
        with transaction.atomic():
            experiment.save()
    except IntegrityError as exc:  # two starts racing: the constraint keeps one
        experiment.state, experiment.started_at = ExperimentState.DRAFT, None
        raise ValidationError({"placement": "Another test started on this placement."}) from exc
    return experiment


def stop_experiment(*, experiment: Experiment, now: datetime) -> Experiment:
    """Running → stopped at ``now``: from the next request every shopper gets the placement."""
    if experiment.state != ExperimentState.RUNNING:
        raise ValidationError({"state": "Only a running experiment can stop."})
    experiment.state, experiment.stopped_at = ExperimentState.STOPPED, now
    experiment.save(update_fields=["state", "stopped_at"])
    return experiment


def promote_variant(*, experiment: Experiment, variant: Variant, now: datetime) -> Experiment:
    """End the test (if running) and make ``variant`` the placement's live version: its
    settings or model written to the placement, or its rule set published (its drafts made
    live; the live rules it dropped taken off this placement). Recorded on the experiment."""
    if variant.experiment_id != experiment.pk:
        raise ValidationError({"variant": "Not a variant of this experiment."})
    if variant.kind == VariantKind.HOLDOUT:
        raise ValidationError({"variant": "A holdout shows nothing; it cannot go live."})
    if experiment.state == ExperimentState.DRAFT:
        raise ValidationError({"state": "A draft experiment has no results to promote."})
    record: dict[str, Any] = {"variant": variant.name, "settings": {}}
    with transaction.atomic():
        placement = Placement.objects.select_for_update().get(pk=experiment.placement_id)
        if experiment.state == ExperimentState.RUNNING:
            stop_experiment(experiment=experiment, now=now)
        for key, value in (variant.settings or {}).items():
            record["settings"][key] = [getattr(placement, key), value]
            setattr(placement, key, value)
        placement.full_clean()
        placement.save()
        if variant.kind == VariantKind.RULES:
            record.update(_promote_rules(placement, variant))
        experiment.promoted_variant, experiment.promoted_at = variant, now
        experiment.promotion = record
        experiment.save(update_fields=["promoted_variant", "promoted_at", "promotion"])
    return experiment


def _promote_rules(placement: Placement, variant: Variant) -> dict[str, list[int]]:
    chosen = list(variant.rules.all())
    published = []
    for rule in chosen:
        if rule.state != RuleState.LIVE:
            publish_rule(rule=rule)  # checked again as it is now; a refusal undoes everything
            published.append(rule.pk)
    detached = []
    if not variant.keep_live_rules:
        keep = {rule.pk for rule in chosen}
        for rule in Rule.objects.filter(placements=placement, state=RuleState.LIVE):
            if rule.pk not in keep:
                rule.placements.remove(placement)
                detached.append(rule.pk)
    return {"published_rules": published, "detached_rules": detached}
