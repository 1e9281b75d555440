"""The API's per-process memo of a placement's live setup, checked against the setup version in
Redis on every request (one round trip, with the shopper's shown history)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection

from placements.models import Rule, RuleKind, RuleState
from placements.selectors import live_setup
from placements.versioning import SETUP_VERSION
from tests.placements.test_rules import _garden, _rule

pytestmark = pytest.mark.django_db


def _forget_version() -> None:
    """What a flushed or evicting Redis does to the version key."""
    get_redis_connection("default").delete(cache.make_key(SETUP_VERSION.key))


def test_a_memo_taken_before_the_cache_lost_its_version_is_not_trusted_after(home):
    rule = _rule(home, kind=RuleKind.BOOST, category=_garden(), strength="strong")
    _forget_version()
    before = live_setup(name=home.name)  # the version is seeded afresh, the memo taken at it
    assert before is not None and [r.pk for r in before.rules] == [rule.pk]

    # A change that moved no version (written around the services), then the key lost again.
    Rule.objects.filter(pk=rule.pk).update(state=RuleState.DRAFT)
    _forget_version()
    after = live_setup(name=home.name)

    assert after is not None and after.rules == []


def test_a_repeat_request_reads_the_memo_and_a_change_through_the_services_shows_at_once(home):
    first = live_setup(name=home.name)
    again = live_setup(name=home.name)
    assert first is not None and again is not None and again.rules is first.rules  # the memo

    rule = _rule(home, kind=RuleKind.BURY, category=_garden(), strength="weak")
    changed = live_setup(name=home.name)

    assert changed is not None and [r.pk for r in changed.rules] == [rule.pk]
