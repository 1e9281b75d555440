"""Reads of placements and their rules."""

from __future__ import annotations

from datetime import datetime

from placements.models import Placement, Rule, RuleKind, RuleState, Visitors
from placements.ordering import Audience
from placements.rule_checks import country_list


def active_placement(*, name: str) -> Placement | None:
    """The switched-on placement the front end asks for by ``name``; None when there is none."""
    return Placement.objects.filter(name=name, is_active=True).first()


def rules_for(
    *, placement: Placement, now: datetime, audience: Audience, drafts: bool = False
) -> list[Rule]:
    """The rules in force on ``placement`` at ``now`` for ``audience``, highest priority first:
    live ones, and drafts too when ``drafts`` (the preview). One query."""
    states = [RuleState.LIVE, RuleState.DRAFT] if drafts else [RuleState.LIVE]
    rules = Rule.objects.filter(placements=placement, state__in=states).scheduled(at=now)
    return [rule for rule in rules.select_related("product") if targets(rule, audience)]


def targets(rule: Rule, audience: Audience) -> bool:
    """Whether the rule's target segment includes this shopper."""
    countries = country_list(rule.countries)
    if countries and audience.country.upper() not in countries:
        return False
    if rule.segment and rule.segment != audience.segment:
        return False
    if rule.audience == Visitors.NEW:
        return not audience.returning
    if rule.audience == Visitors.RETURNING:
        return audience.returning
    return True


def placement_list() -> list[Placement]:
    return list(Placement.objects.all())


def placement_named(*, name: str) -> Placement | None:
    """The placement called ``name``, switched on or off; None when there is none."""
    return Placement.objects.filter(name=name).first()


def rules_of(*, placement: Placement) -> list[Rule]:
    """Every rule on ``placement``, live and draft, in the order they apply: by kind
    (``placements.ordering``), then highest priority first."""
    rules = Rule.objects.filter(placements=placement).select_related("category", "product")
    kinds = list(RuleKind.values)
    return sorted(rules, key=lambda rule: (kinds.index(rule.kind), -rule.priority, rule.pk))


def rule_on(*, placement: Placement, rule_id: int) -> Rule | None:
    return Rule.objects.filter(placements=placement, pk=rule_id).first()
