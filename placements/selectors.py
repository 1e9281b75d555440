"""Reads of placements and their rules.

The API's reads (a placement, its live rules and its running A/B test) are kept per process
and compared with a version counter that every placement or rule write moves
(``placements.signals``), so a request costs no query for them: one Redis round trip, which
also carries the shopper's shown history when the live rules read it. The dashboard's reads go
to the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import FieldDoesNotExist

from behavior.shown_history import (
    ShownHistory,
    ShownQuestions,
    answered_history,
    queue_history_read,
)
from placements.experiments.selectors import Arm, RunningTest, running_test_from_db
from placements.models import Placement, Rule, RuleKind, RuleState, Visitors, WhatIfRun
from placements.ordering import Audience
from placements.rule_checks import country_list
from placements.versioning import SETUP_VERSION


@dataclass(frozen=True)
class LiveSetup:
    """A switched-on placement as the API serves it: its live rules highest priority first,
    its running A/B test, and the shopper's shown history when it was read with them."""

    placement: Placement
    rules: list[Rule]
    test: RunningTest | None
    # Every question its rules, its exclusion or its test's arms may ask of a shown history.
    shown_questions: ShownQuestions
    history: ShownHistory | None = None  # their answers for this request's shopper


# name -> (version, its setup without a history); switched-on placements only, so a request
# for a made-up name never grows it.
_live: dict[str, tuple[str, LiveSetup]] = {}
_lock = threading.Lock()


def live_setup(*, name: str, shopper: str = "", now: datetime | None = None) -> LiveSetup | None:
    """The switched-on placement called ``name`` with its live rules and running test; None
    when there is none. Given a ``shopper`` and ``now``, the setup carries the answers of their
    shown history to ``shown_questions``, read in the same round trip as the setup's version
    whenever the memo already knows the questions (a changed setup leaves them to the caller)."""
    hit = _live.get(name)
    asked = hit[1].shown_questions if hit is not None and shopper else ShownQuestions()

    def also_read(pipe) -> None:
        if asked and now is not None:
            queue_history_read(pipe, shopper=shopper, now=now, questions=asked)

    version, replies = SETUP_VERSION.read_seeded_along(also_read)
    if version is not None and hit is not None and hit[0] == version:
        setup = hit[1]
    else:
        setup = _setup_from_db(name)
        if setup is None:
            return None
        if version is not None:  # with the cache down every request reads, never a stale memo
            with _lock:
                _live[name] = (version, setup)
    if asked and now is not None and replies and asked == setup.shown_questions:
        history = answered_history(replies[0], questions=asked)
        return LiveSetup(setup.placement, setup.rules, setup.test, asked, history)
    return setup


def active_placement(*, name: str) -> Placement | None:
    """The switched-on placement the front end asks for by ``name``; None when there is none."""
    found = live_setup(name=name)
    return found.placement if found else None


def rules_for(
    *,
    placement: Placement,
    now: datetime,
    audience: Audience,
    drafts: bool = False,
    arm: Arm | None = None,
    live: LiveSetup | None = None,
) -> list[Rule]:
    """The rules in force on ``placement`` at ``now`` for ``audience``, highest priority first:
    live ones (``live``'s, else from the per-process memo), and drafts too when ``drafts``
    (the preview, one query). An A/B test's rule-set ``arm`` replaces them by its own set: its
    chosen rules, and the live ones unless it drops them."""
    if drafts:
        states = [RuleState.LIVE, RuleState.DRAFT]
        rules = list(_ordered(Rule.objects.filter(placements=placement, state__in=states)))
    else:
        found = live if live is not None else live_setup(name=placement.name)
        rules = found.rules if found and found.placement.pk == placement.pk else []
    if arm is not None and arm.is_rule_set:
        chosen = {rule.pk: rule for rule in (*(rules if arm.keep_live_rules else ()), *arm.rules)}
        rules = sorted(chosen.values(), key=lambda rule: (-rule.priority, rule.pk))
    return [rule for rule in rules if rule.in_window(now) and targets(rule, audience)]


def shown_questions(placement: Placement, rules: list[Rule] | tuple[Rule, ...]) -> ShownQuestions:
    """What the placement's "recently shown" exclusion and the rotations among ``rules`` ask
    of a shopper's shown history (empty: nothing, and the history is not read)."""
    return ShownQuestions(
        recent_hours=float(placement.exclude_shown_hours or 0),
        rotations=frozenset(
            (float(rule.rotation_hours or 0), int(rule.rotation_shows or 0))
            for rule in rules
            if rule.kind == RuleKind.ROTATION
        ),
    )


def _setup_from_db(name: str) -> LiveSetup | None:
    placement = Placement.objects.filter(name=name, is_active=True).first()
    if placement is None:
        return None
    rules = list(_ordered(Rule.objects.filter(placements=placement, state=RuleState.LIVE)))
    test = running_test_from_db(placement=placement)
    # An arm may change the exclusion's hours or bring its own rotations: all of them asked.
    questions = shown_questions(placement, rules)
    for arm in test.arms if test is not None else ():
        questions |= shown_questions(arm.applied_to(placement), (*rules, *arm.rules))
    return LiveSetup(placement, rules, test, questions)


def _ordered(rules):
    return rules.select_related("product")  # Rule.Meta orders highest priority first


def forget_placements() -> None:
    """Drop this process's memo (tests)."""
    with _lock:
        _live.clear()


def targets(rule: Rule, audience: Audience) -> bool:
    """Whether the rule's target segment includes this shopper."""
    countries = rule.countries and country_list(rule.countries)  # most rules name none
    if countries and audience.country.upper() not in countries:
        return False
    if rule.segment and rule.segment != audience.segment:
        return False
    if rule.audience == Visitors.NEW:
        return not audience.returning
    if rule.audience == Visitors.RETURNING:
        return audience.returning
    return True


def setting_label(name: str) -> str:
    """A placement setting as a merchandiser reads it (its field's verbose name, e.g. "max per
    category"); the name itself for one that no longer exists."""
    try:
        return str(Placement._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name


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


def placement_rules(*, placement: Placement) -> list[Rule]:
    """Every rule on ``placement``, live and draft, highest priority first (a what-if
    decides which are in force)."""
    return list(_ordered(Rule.objects.filter(placements=placement)).select_related("category"))


def rule_on(*, placement: Placement, rule_id: int) -> Rule | None:
    return Rule.objects.filter(placements=placement, pk=rule_id).first()


def rule_by_id(*, rule_id: int) -> Rule | None:
    return Rule.objects.filter(pk=rule_id).first()


def latest_whatif(*, placement: Placement) -> WhatIfRun | None:
    """The placement's newest what-if run, finished or not."""
    return WhatIfRun.objects.filter(placement=placement).first()


def whatif_run(*, placement: Placement, run_id: int) -> WhatIfRun | None:
    return WhatIfRun.objects.filter(placement=placement, pk=run_id).first()


def rule_names(*, rule_ids: list[int]) -> dict[int, str]:
    """Rule id → its name, for the ids that still exist (the KPI page's rule table)."""
    return dict(Rule.objects.filter(pk__in=rule_ids).values_list("pk", "name"))
