"""Every write to a placement, a rule or an A/B test (and its variants), through a service,
the admin or the ORM, moves the setup version (``placements.selectors`` memoises the live
setup under it). A started test's variant keeps its rule set: a change through the ORM's
many-to-many manager (which no model ``save`` sees) is refused here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models.signals import m2m_changed, post_delete, post_save

from placements.experiments.models import Experiment, Variant
from placements.models import Placement, Rule
from placements.versioning import bump_setup_version


def _moved(**_: Any) -> None:
    bump_setup_version()


def _refuse_rules_of_a_started_test(instance: Any, action: str, reverse: bool, **_: Any) -> None:
    if action in ("pre_add", "pre_remove", "pre_clear") and isinstance(instance, Variant):
        fixed = instance.fixed_rules()
        if fixed:
            raise ValidationError(fixed)


def connect() -> None:
    for model in (Placement, Rule, Experiment, Variant):
        post_save.connect(_moved, sender=model, dispatch_uid=f"placements-setup-{model.__name__}")
        post_delete.connect(_moved, sender=model, dispatch_uid=f"placements-gone-{model.__name__}")
    m2m_changed.connect(_moved, sender=Rule.placements.through, dispatch_uid="placements-m2m")
    m2m_changed.connect(_moved, sender=Variant.rules.through, dispatch_uid="variants-m2m")
    m2m_changed.connect(
        _refuse_rules_of_a_started_test,
        sender=Variant.rules.through,
        dispatch_uid="variants-rules-fixed",
    )
