"""Changing rules: every write checks the rule on its own and on its placements first, so a
refused change leaves everything as it was."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from placements.models import Placement, Rule, RuleState
from placements.rule_checks import placement_errors


def save_rule(*, rule: Rule, placements: Iterable[Placement]) -> Rule:
    """Store ``rule`` on ``placements``; ValidationError (nothing stored) when it is invalid."""
    placements = list(placements)
    rule.full_clean()
    errors = placement_errors(rule, placements)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        rule.save()
        rule.placements.set(placements)
    return rule


def publish_rule(*, rule: Rule) -> Rule:
    """Make a draft live, checked again as it is now (its pinned product may have sold out)."""
    rule.state = RuleState.LIVE
    try:
        return save_rule(rule=rule, placements=rule.placements.all())
    except ValidationError:
        rule.state = RuleState.DRAFT
        raise
