"""``manage.py whatif``: the comparison table and its sentence, JSON on request, and bad input
refused with a message and a non-zero exit."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Category
from placements.models import Rule, RuleKind, RuleState
from placements.rule_services import save_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def bury_garden(home) -> Rule:
    rule = Rule(
        name="Less garden",
        kind=RuleKind.BURY,
        strength="strong",
        category=Category.objects.get(slug="garden"),
        state=RuleState.DRAFT,
    )
    return save_rule(rule=rule, placements=[home])


def test_it_prints_both_versions_side_by_side_and_writes_json(bury_garden, tmp_path, capsys):
    path = tmp_path / "whatif.json"

    call_command("whatif", "home-for-you", "--days", "14", "--json", str(path))

    out = capsys.readouterr().out
    written = json.loads(path.read_text())
    assert f"#{bury_garden.pk} Less garden" in out
    assert "hit rate" in out and "exposure: Garden" in out and "with drafts" in out
    assert written["summary"] in out
    assert written["days"] == 14 and written["live"]["hit_rate"] > 0
    assert written["facts"]["draft_rules"] == [{"id": bury_garden.pk, "name": "Less garden"}]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nowhere"], "No placement named 'nowhere'"),
        (["home-for-you", "--days", "0"], "--days: Days must lie between 1 and 90"),
        (["home-for-you", "--days", "91"], "--days: Days must lie between 1 and 90"),
        (["home-for-you", "--rule", "999999"], "--rule: No draft rule 999999"),
        (["home-for-you", "--max-shoppers", "0"], "--max-shoppers: Score at least one shopper"),
    ],
)
def test_bad_input_exits_with_a_message(bury_garden, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("whatif", *arguments)


def test_a_placement_without_drafts_exits_with_a_message(home):
    with pytest.raises(CommandError, match="--rule: home-for-you has no draft rule"):
        call_command("whatif", "home-for-you")
