"""Reads of placements and their rules."""

from __future__ import annotations

from datetime import datetime

from placements.models import Placement
from placements.ordering import Audience


def active_placement(*, name: str) -> Placement | None:
    """The switched-on placement the front end asks for by ``name``; None when there is none."""
    return Placement.objects.filter(name=name, is_active=True).first()


def rules_for(*, placement: Placement, now: datetime, audience: Audience, drafts: bool) -> list:
    """The rules in force on ``placement`` at ``now`` for ``audience`` (none yet)."""
    return []
