"""Every write to a placement, a rule or an A/B test (and its variants), through a service,
the admin or the ORM, moves the setup version (``placements.selectors`` memoises the live
setup under it)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save

from placements.experiments.models import Experiment, Variant
from placements.models import Placement, Rule
from placements.versioning import bump_setup_version


def _moved(**_: Any) -> None:
    bump_setup_version()


def connect() -> None:
    for model in (Placement, Rule, Experiment, Variant):
        post_save.connect(_moved, sender=model, dispatch_uid=f"placements-setup-{model.__name__}")
        post_delete.connect(_moved, sender=model, dispatch_uid=f"placements-gone-{model.__name__}")
    m2m_changed.connect(_moved, sender=Rule.placements.through, dispatch_uid="placements-m2m")
    m2m_changed.connect(_moved, sender=Variant.rules.through, dispatch_uid="variants-m2m")
