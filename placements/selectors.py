"""Reads of placements and their rules.

The API's reads (a placement and its live rules) are kept per process and compared with a
version counter that every placement or rule write moves (``placements.signals``), so a
request costs no query for them; the dashboard's reads go to the database.
"""

from __future__ import annotations

import threading
from datetime import datetime

from placements.experiments.selectors import Arm, RunningTest, running_test_from_db
from placements.models import Placement, Rule, RuleKind, RuleState, Visitors, WhatIfRun
from placements.ordering import Audience
from placements.rule_checks import country_list
from placements.versioning import SETUP_VERSION

# name -> (version, placement, its live rules highest priority first, its running A/B test);
# switched-on ones only, so a request for a made-up name never grows it.
_live: dict[str, tuple[str, Placement, list[Rule], RunningTest | None]] = {}
_lock = threading.Lock()


def active_placement(*, name: str) -> Placement | None:
    """The switched-on placement the front end asks for by ``name``; None when there is none."""
    found = _live_setup(name)
    return found[0] if found else None


def running_test(*, placement: Placement) -> RunningTest | None:
    """The A/B test running on ``placement``, from the same per-process memo (no query on a
    repeat request; starting or stopping a test moves the setup version)."""
    found = _live_setup(placement.name)
    return found[2] if found and found[0].pk == placement.pk else None


def rules_for(
    *,
    placement: Placement,
    now: datetime,
    audience: Audience,
    drafts: bool = False,
    arm: Arm | None = None,
) -> list[Rule]:
    """The rules in force on ``placement`` at ``now`` for ``audience``, highest priority first:
    live ones (from the per-process memo), and drafts too when ``drafts`` (the preview, one
    query). An A/B test's rule-set ``arm`` replaces them by its own set: its chosen rules, and
    the live ones unless it drops them."""
    if drafts:
        states = [RuleState.LIVE, RuleState.DRAFT]
        rules = list(_ordered(Rule.objects.filter(placements=placement, state__in=states)))
    else:
        found = _live_setup(placement.name)
        rules = found[1] if found and found[0].pk == placement.pk else []
    if arm is not None and arm.is_rule_set:
        chosen = {rule.pk: rule for rule in (*(rules if arm.keep_live_rules else ()), *arm.rules)}
        rules = sorted(chosen.values(), key=lambda rule: (-rule.priority, rule.pk))
    return [rule for rule in rules if rule.in_window(now) and targets(rule, audience)]


def _live_setup(name: str) -> tuple[Placement, list[Rule], RunningTest | None] | None:
    version = SETUP_VERSION.read_seeded()
    hit = _live.get(name)
    if version is not None and hit is not None and hit[0] == version:
        return hit[1], hit[2], hit[3]
    placement = Placement.objects.filter(name=name, is_active=True).first()
    if placement is None:
        return None
    rules = list(_ordered(Rule.objects.filter(placements=placement, state=RuleState.LIVE)))
    test = running_test_from_db(placement=placement)
    if version is not None:  # with the cache down every request reads, never a stale memo
        with _lock:
            _live[name] = (version, placement, rules, test)
    return placement, rules, test


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
