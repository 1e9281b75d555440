"""The audit log of placements and rules (django-simple-history): writing one record per change,
and reading a placement's changes, its own and its rules', as field-by-field words.

simple-history records every write through the ORM, the admin and the dashboard, with the user
from ``HistoryRequestMiddleware``. It writes one record for a rule's save and one more for each
step of setting its placements; ``one_record`` folds those into one, so each change a
merchandiser makes is one entry and any entry is a whole version to revert to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import QuerySet, Value
from django.utils import timezone

from placements.models import PLACEMENT_HISTORY, RULE_HISTORY, Placement, Rule

HISTORIES = {Placement: PLACEMENT_HISTORY, Rule: RULE_HISTORY}
# Moved by every save: a diff of them says nothing a merchandiser needs.
UNTRACKED = ("created_at", "updated_at")
HistoricalPlacement = Placement.history.model
HistoricalRule = Rule.history.model
HistoricalRulePlacements = HistoricalRule.placements.model

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@contextmanager
def one_record(instance: Placement | Rule, *, reason: str = "") -> Iterator[None]:
    """Writes inside the block leave one history record, after it, for the whole change;
    none when the block raises."""
    created = instance._state.adding
    instance.skip_history_when_saving = True
    try:
        yield
    finally:
        instance.__dict__.pop("skip_history_when_saving", None)
    record_change(instance, created=created, reason=reason)


def record_change(instance: Placement | Rule, *, created: bool, reason: str = "") -> None:
    """Write the history record of ``instance`` as it is now (with its placements), by the
    signed-in user when there is a request; lifts the admin's ``skip_history_when_saving``."""
    if hasattr(instance, "skip_history_when_saving"):
        del instance.skip_history_when_saving
    if reason:
        instance._change_reason = reason
    HISTORIES[type(instance)].create_historical_record(instance, "+" if created else "~")


@dataclass(frozen=True)
class FieldChange:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Change:
    """One history entry, as the history page shows it."""

    record_id: int
    kind: str  # "placement" or "rule"
    subject: str
    action: str  # created, changed, deleted
    when: datetime
    who: str
    reason: str
    fields: list[FieldChange]
    can_revert: bool  # an earlier version of something that exists, or a deleted rule's last


def placement_changes(*, placement: Placement) -> QuerySet:
    """(record id, kind, time) of every change to ``placement`` and to every rule that was ever
    on it, deleted ones included, newest first: one query a paginator can slice."""
    rule_ids = HistoricalRulePlacements.objects.filter(placement_id=placement.pk).values(
        "history__id"
    )
    placement_rows = HistoricalPlacement.objects.filter(id=placement.pk).annotate(
        entry=Value("placement", output_field=models.CharField())
    )
    rule_rows = HistoricalRule.objects.filter(id__in=rule_ids).annotate(
        entry=Value("rule", output_field=models.CharField())
    )
    columns = ("history_id", "entry", "history_date")
    return (
        placement_rows.values_list(*columns)
        .union(rule_rows.values_list(*columns), all=True)
        .order_by("-history_date", "-history_id")
    )


def described(rows: list[tuple[int, str, datetime]]) -> list[Change]:
    """The entries behind ``rows`` (from ``placement_changes``), each with its diff in words."""
    ids = {kind: [row[0] for row in rows if row[1] == kind] for kind in ("placement", "rule")}
    records = {
        ("placement", r.history_id): r
        for r in HistoricalPlacement.objects.filter(history_id__in=ids["placement"])
    }
    records |= {
        ("rule", r.history_id): r
        for r in HistoricalRule.objects.filter(history_id__in=ids["rule"]).select_related(
            "history_user"
        )
    }
    return [_change(kind, records[kind, record_id]) for record_id, kind, _ in rows]


def record_of(*, kind: str, record_id: int) -> Any | None:
    """The history record ``record_id`` of a placement or a rule; None when there is none."""
    model = {"placement": HistoricalPlacement, "rule": HistoricalRule}.get(kind)
    return model.objects.filter(history_id=record_id).first() if model else None


def was_on(record: Any, placement: Placement) -> bool:
    """Whether the rule's history ever put it on ``placement`` (its page lists it)."""
    return HistoricalRulePlacements.objects.filter(
        history__id=record.id, placement_id=placement.pk
    ).exists()


def _change(kind: str, record: Any) -> Change:
    previous = record.prev_record
    if record.history_type == "~" and previous is not None:
        delta = record.diff_against(previous, excluded_fields=UNTRACKED)
        fields = [
            FieldChange(
                _label(record, c.field),
                _words(record, c.field, c.old),
                _words(record, c.field, c.new),
            )
            for c in delta.changes
        ]
    elif record.history_type == "+":
        fields = [
            FieldChange(_label(record, name), "—", _words(record, name, value))
            for name, value in _values(record).items()
            if value not in (None, "", [])
        ]
    else:
        fields = []
    # Reverting to the newest record of something that exists would change nothing; the
    # newest of a deleted rule is its deletion, which has no placements left to restore.
    newest = record.next_record is None
    model = Placement if kind == "placement" else Rule
    can_revert = record.history_type != "-" and (
        not newest or not model.objects.filter(pk=record.id).exists()
    )
    user = record.history_user
    return Change(
        record_id=record.history_id,
        kind=kind,
        subject=record.name,
        action=ACTIONS[record.history_type],
        when=record.history_date,
        who=user.get_username() if user else "a script (no signed-in user)",
        reason=record.history_change_reason or "",
        fields=fields,
        can_revert=can_revert,
    )


def _values(record: Any) -> dict[str, Any]:
    values = {
        f.name: getattr(record, f.attname)
        for f in record.tracked_fields
        if f.editable and f.name not in UNTRACKED and f.name != "id"
    }
    if isinstance(record, HistoricalRule):
        values["placements"] = [{"placement": row.placement_id} for row in record.placements.all()]
    return values


def _label(record: Any, name: str) -> str:
    field = record.instance_type._meta.get_field(name)
    return str(field.verbose_name).capitalize()


def _words(record: Any, name: str, value: Any) -> str:
    """A stored value as a merchandiser reads it: choice labels, names for ids, "empty"."""
    field = record.instance_type._meta.get_field(name)
    if isinstance(field, models.ManyToManyField):
        ids = [row["placement"] for row in value or []]
        names = dict(Placement.objects.filter(pk__in=ids).values_list("pk", "name"))
        return ", ".join(names.get(pk, f"#{pk} (deleted)") for pk in ids) or "none"
    if value is None or value == "" or value == []:
        return "empty"
    if isinstance(field, models.ForeignKey):
        related = field.related_model.objects.filter(pk=value).first()
        return str(getattr(related, "sku", related)) if related else f"#{value} (deleted)"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list):
        return " → ".join(str(item) for item in value) or "none"
    return str(value)


def now_reason(record: Any) -> str:
    """The change reason a revert writes: which version it went back to."""
    when = timezone.localtime(record.history_date).strftime("%Y-%m-%d %H:%M:%S")
    return f"Reverted to the version of {when}"
