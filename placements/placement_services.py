"""Changing a placement's settings: checked by the model and against its rules, one history
record per change."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from placements.history import HistoricalPlacement, now_reason, one_record
from placements.models import Placement
from placements.rule_checks import rules_past_k


def save_placement(*, placement: Placement, reason: str = "") -> Placement:
    """Store ``placement``; ValidationError (nothing stored) when it is invalid or its k would
    cut off a rule's position or share."""
    placement.full_clean()
    errors = rules_past_k(placement)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic(), one_record(placement, reason=reason):
        placement.save()
    return placement


def revert_placement(*, record: Any) -> Placement:
    """Put the placement back as ``record`` (a history record) has it; checked like an edit."""
    if not isinstance(record, HistoricalPlacement) or record.history_type == "-":
        raise ValidationError("Only a stored version of a placement can be restored.")
    placement = Placement.objects.filter(pk=record.id).first()
    if placement is None:
        raise ValidationError("This placement was deleted; add it again in the admin.")
    restored = record.instance
    restored._state.adding = False
    return save_placement(placement=restored, reason=now_reason(record))
