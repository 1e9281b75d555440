"""The checks a raw event passes before it is stored: types, lengths, its kind's rules, a
plausible time. Plain Python, one event at a time, with every problem named by field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from behavior.kinds import EVENT_KINDS, attributable_kinds, product_required
from behavior.models import EARLIEST_EVENT_TIME, MAX_POSITION
from config.recommendation_ids import FORMAT_HELP, parse_recommendation_id
from config.storable import UNSTORABLE_TEXT, unstorable

MAX_FUTURE = timedelta(days=1)  # client clocks drift; a day ahead is a bug, not drift
TEXT_LIMITS = {"event_id": 128, "shopper": 128, "product": 64, "query": 255}
OPTIONAL_TEXT_LIMITS = {"session_id": 128, "order_id": 128}

Errors = dict[str, list[str]]


@dataclass(slots=True)
class CleanEvent:
    event_id: str
    shopper: str
    sku: str | None
    kind: str
    value: float
    query: str
    session_id: str
    order_id: str
    occurred_at: datetime
    recommendation_id: UUID | None = None
    position: int | None = None


def clean_event(raw: Any, *, now: datetime) -> tuple[CleanEvent | None, Errors]:
    """One event's typed values, or the errors that make it invalid."""
    if not isinstance(raw, Mapping):
        return None, {"non_field_errors": ["Each event must be a JSON object."]}
    errors: Errors = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    text = {name: _text(raw.get(name), name, limit, fail) for name, limit in TEXT_LIMITS.items()}
    for name, limit in OPTIONAL_TEXT_LIMITS.items():
        text[name] = _text(raw.get(name), name, limit, fail) or ""
    for name in ("event_id", "shopper"):
        # All spaces is as absent: the product service strips its keys the same way.
        if not (text[name] or "").strip() and name not in errors:
            fail(name, "This field is required.")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in EVENT_KINDS:  # a JSON object is not hashable
        fail("kind", f"Must be one of {', '.join(sorted(EVENT_KINDS))}; got {kind!r}.")
    elif not EVENT_KINDS[kind].names_product:
        if not text["query"] and not text["product"] and "query" not in errors:
            fail("query", f"A {kind} needs its query text.")
    elif not text["product"] and "product" not in errors:
        fail("product", product_required())
    value = _value(raw.get("value"), kind, fail)
    occurred_at = _occurred_at(raw.get("occurred_at"), now, fail)
    recommendation_id, position = _followed(raw, kind, fail)
    if errors:
        return None, errors
    return (
        CleanEvent(
            event_id=text["event_id"],
            shopper=text["shopper"],
            sku=text["product"] or None,
            kind=kind,
            value=value,
            query=text["query"] or "",
            session_id=text["session_id"],
            order_id=text["order_id"],
            occurred_at=occurred_at,
            recommendation_id=recommendation_id,
            position=position,
        ),
        errors,
    )


def _text(value: Any, name: str, limit: int, fail) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # numeric customer ids and skus are common in shop exports
    if not isinstance(value, str):
        fail(name, "Must be a string.")
        return None
    if len(value) > limit:
        fail(name, f"At most {limit} characters.")
        return None
    if unstorable(value):
        fail(name, UNSTORABLE_TEXT)
        return None
    return value


def _value(raw: Any, kind: Any, fail) -> float:
    if raw is None or raw == "":
        value = 1.0
    elif isinstance(raw, bool):
        fail("value", "Must be a number.")
        return 0.0
    else:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            fail("value", f"Must be a number; got {raw!r}.")
            return 0.0
    if not math.isfinite(value) or value < 0:
        fail("value", "Must be a finite number, 0 or more.")
    elif isinstance(kind, str) and kind in EVENT_KINDS:  # a JSON object is not hashable
        problem = EVENT_KINDS[kind].value_problem(value)
        if problem:
            fail("value", problem)
    return value


def _occurred_at(raw: Any, now: datetime, fail) -> datetime:
    if raw is None or raw == "":
        return now  # live clients may leave it out: the event happened as it arrives
    if isinstance(raw, str):
        try:
            raw = datetime.fromisoformat(raw)
        except ValueError:
            fail("occurred_at", f"Not an ISO 8601 date-time: {raw!r}.")
            return now
    if not isinstance(raw, datetime):
        fail("occurred_at", "Must be an ISO 8601 date-time string.")
        return now
    if raw.tzinfo is None or raw.utcoffset() is None:
        fail("occurred_at", "Needs a time zone, e.g. 2024-05-01T12:00:00Z or +01:00.")
        return now
    if raw < EARLIEST_EVENT_TIME:
        fail("occurred_at", f"Is before {EARLIEST_EVENT_TIME.isoformat()}, the earliest accepted.")
    elif raw > now + MAX_FUTURE:
        fail("occurred_at", "Is more than a day in the future.")
    return raw


def _followed(raw: Mapping, kind: Any, fail) -> tuple[UUID | None, int | None]:
    """The recommendation the shopper followed, if the event names one (see README, proof)."""
    rec_id, position = raw.get("recommendation_id"), raw.get("position")
    if rec_id in (None, "") and position in (None, ""):
        return None, None
    if isinstance(kind, str) and kind in EVENT_KINDS and not EVENT_KINDS[kind].attributable:
        allowed = ", ".join(attributable_kinds())
        name = "recommendation_id" if rec_id not in (None, "") else "position"
        fail(name, f"Only a {allowed} event follows a recommendation; a {kind} does not.")
        return None, None
    parsed = None
    if rec_id in (None, ""):
        fail("recommendation_id", "Required when a position is given.")
    elif not isinstance(rec_id, str) or (parsed := parse_recommendation_id(rec_id)) is None:
        fail("recommendation_id", f"Not a recommendation id: {str(rec_id)[:64]!r}. {FORMAT_HELP}")
    if position in (None, ""):
        return parsed, None
    if isinstance(position, bool) or not isinstance(position, int):
        fail("position", "Must be a whole number.")
        return None, None
    if not 1 <= position <= MAX_POSITION:
        fail("position", f"Must be between 1 and {MAX_POSITION} (1 = the first item shown).")
        return None, None
    return parsed, position
