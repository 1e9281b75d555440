"""Reads of placements and their rules.

The API's reads (a placement and its live rules) are kept per process and compared with a
version counter that every placement or rule write moves (``placements.signals``), so a
request costs no query for them; the dashboard's reads go to the database.
"""

from __future__ import annotations

import threading
from datetime import datetime

from placements.models import Placement, Rule, RuleKind, RuleState, Visitors
from placements.ordering import Audience
from placements.rule_checks import country_list
from placements.versioning import SETUP_VERSION

# name -> (version, placement, its live rules highest priority first); switched-on ones only,
# so a request for a made-up name never grows it.
_live: dict[str, tuple[str, Placement, list[Rule]]] = {}
_lock = threading.Lock()


def active_placement(*, name: str) -> Placement | None:
    """The switched-on placement the front end asks for by ``name``; None when there is none."""
    found = _live_setup(name)
    return found[0] if found else None


def rules_for(
    *, placement: Placement, now: datetime, audience: Audience, drafts: bool = False
) -> list[Rule]:
    """The rules in force on ``placement`` at ``now`` for ``audience``, highest priority first:
    live ones (from the per-process memo), and drafts too when ``drafts`` (the preview, one
    query)."""
    if drafts:
        states = [RuleState.LIVE, RuleState.DRAFT]
        rules = list(_ordered(Rule.objects.filter(placements=placement, state__in=states)))
    else:
        found = _live_setup(placement.name)
        rules = found[1] if found and found[0].pk == placement.pk else []
    return [rule for rule in rules if rule.in_window(now) and targets(rule, audience)]


def _live_setup(name: str) -> tuple[Placement, list[Rule]] | None:
    version = SETUP_VERSION.read_seeded()
    hit = _live.get(name)
    if version is not None and hit is not None and hit[0] == version:
        return hit[1], hit[2]
    placement = Placement.objects.filter(name=name, is_active=True).first()
    if placement is None:
        return None
    rules = list(_ordered(Rule.objects.filter(placements=placement, state=RuleState.LIVE)))
    if version is not None:  # with the cache down every request reads, never a stale memo
        with _lock:
            _live[name] = (version, placement, rules)
    return placement, rules


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


def rule_on(*, placement: Placement, rule_id: int) -> Rule | None:
    return Rule.objects.filter(placements=placement, pk=rule_id).first()
