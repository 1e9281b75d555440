"""Changing rules: every write checks the rule on its own and on its placements first, so a
refused change leaves everything as it was, and leaves one history record when it is stored."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from placements.history import HistoricalRule, now_reason, one_record
from placements.models import Placement, Rule, RuleState
from placements.rule_checks import placement_errors


def save_rule(
    *,
    rule: Rule,
    placements: Iterable[Placement],
    save_related: Callable[[], None] | None = None,
    reason: str = "",
) -> Rule:
    """Store ``rule`` on ``placements``; ValidationError (nothing stored) when it is invalid.
    ``save_related`` stores a form's other many-to-many fields in the same transaction."""
    placements = list(placements)
    rule.full_clean()
    errors = placement_errors(rule, placements)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), one_record(rule, reason=reason):
        rule.save()
        rule.placements.set(placements)
        if save_related is not None:
            save_related()
    return rule


def publish_rule(*, rule: Rule) -> Rule:
    """Make a draft live, checked again as it is now (its pinned product may have sold out)."""
    return _set_state(rule, RuleState.LIVE)


def unpublish_rule(*, rule: Rule) -> Rule:
    """Take a live rule back to a draft: shoppers stop seeing it, the preview still shows it."""
    return _set_state(rule, RuleState.DRAFT)


def _set_state(rule: Rule, state: str) -> Rule:
    before = rule.state
    rule.state = state
    try:
        return save_rule(rule=rule, placements=rule.placements.all())
    except ValidationError:
        rule.state = before
        raise


def delete_rule(*, rule: Rule) -> None:
    """Delete ``rule``; its history keeps every version, so it can be restored."""
    rule.delete()


def revert_rule(*, record: Any) -> Rule:
    """Put the rule back as ``record`` (a history record) has it, placements included, and
    recreate it when it was deleted; checked like any edit (ValidationError, nothing stored).
    Placements deleted since are left out."""
    if not isinstance(record, HistoricalRule) or record.history_type == "-":
        raise ValidationError("Only a stored version of a rule can be restored.")
    rule = record.instance
    rule._state.adding = not Rule.objects.filter(pk=rule.pk).exists()
    placement_ids = [row.placement_id for row in record.placements.all()]
    placements = Placement.objects.filter(pk__in=placement_ids)
    return save_rule(rule=rule, placements=placements, reason=now_reason(record))
