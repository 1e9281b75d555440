"""A started A/B test's variants stay as they were: shoppers are assigned by a hash over their
weights in order, so a new weight, order or variant would move shoppers between variants and
corrupt the results. The admin shows them read-only; the model refuses the change with the
field and the reason. A draft stays editable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.models import Category
from placements.experiments.models import Experiment, Variant
from placements.experiments.selectors import running_test_from_db
from placements.experiments.services import (
    Plan,
    VariantSpec,
    create_experiment,
    start_experiment,
    stop_experiment,
)
from placements.models import Placement, Rule, RuleKind
from placements.rule_services import save_rule

pytestmark = pytest.mark.django_db

SHOPPERS = [f"s-{n}" for n in range(200)]


@pytest.fixture
def draft() -> Experiment:
    Placement.objects.create(name="home-for-you", title="Home", strategy="for_you", k=5)
    variants = [
        VariantSpec(name="control", kind="settings", weight=50),
        VariantSpec(name="short", kind="settings", weight=50, settings={"k": 3}),
    ]
    return create_experiment(
        name="Shorter list", placement_name="home-for-you", variants=variants, plan=Plan()
    )


@pytest.fixture
def running(draft) -> Experiment:
    return start_experiment(experiment=draft, now=timezone.now())


def _arms(experiment: Experiment) -> dict[str, str]:
    test = running_test_from_db(placement=experiment.placement)
    return {shopper: test.arm_for(shopper).name for shopper in SHOPPERS}


def _admin_post(experiment: Experiment, *, weights: tuple[int, int], extra: bool, delete: bool):
    """The admin's change form as a browser would send it, variants edited."""
    variants = list(experiment.variants.order_by("position"))
    data = {
        "name": experiment.name,
        "placement": experiment.placement_id,
        "primary_metric": experiment.primary_metric,
        "guardrails": "[]",
        "baseline_rate": experiment.baseline_rate,
        "revenue_cv": experiment.revenue_cv,
        "minimum_detectable_effect": experiment.minimum_detectable_effect,
        "alpha": experiment.alpha,
        "power": experiment.power,
        "variants-TOTAL_FORMS": len(variants) + extra,
        "variants-INITIAL_FORMS": len(variants),
        "variants-MIN_NUM_FORMS": 0,
        "variants-MAX_NUM_FORMS": 1000,
    }
    rows = [
        {"id": v.pk, "position": v.position, "name": v.name, "kind": v.kind, "weight": w}
        for v, w in zip(variants, weights, strict=True)
    ]
    if extra:
        rows.append({"id": "", "position": 2, "name": "third", "kind": "holdout", "weight": 10})
    for n, row in enumerate(rows):
        for key, value in {**row, "experiment": experiment.pk, "settings": "{}"}.items():
            data[f"variants-{n}-{key}"] = value
        data[f"variants-{n}-keep_live_rules"] = "on"
    if delete:
        data["variants-1-DELETE"] = "on"
    return data


def test_a_running_test_s_variants_are_read_only_in_the_admin_and_shoppers_keep_their_variant(
    admin_client, running
):
    before = _arms(running)
    url = f"/admin/placements/experiment/{running.pk}/change/"

    page = admin_client.get(url).content.decode()
    sent = admin_client.post(url, _admin_post(running, weights=(10, 90), extra=True, delete=True))

    assert 'name="variants-0-weight"' not in page and 'name="variants-0-DELETE"' not in page
    assert 'name="variants-MAX_NUM_FORMS" value="0"' in page  # no "Add another"
    assert "The variants are read-only since this test started" in page
    assert sent.status_code == 302, sent.content.decode()[:2000]
    stored = list(running.variants.order_by("position").values_list("name", "weight"))
    assert stored == [("control", 50), ("short", 50)]
    assert _arms(running) == before


def test_a_draft_s_variants_stay_editable_in_the_admin(admin_client, draft):
    url = f"/admin/placements/experiment/{draft.pk}/change/"

    page = admin_client.get(url).content.decode()
    sent = admin_client.post(url, _admin_post(draft, weights=(30, 60), extra=True, delete=False))

    assert 'name="variants-0-weight"' in page and 'name="variants-0-DELETE"' in page
    assert sent.status_code == 302, sent.content.decode()[:2000]
    stored = list(draft.variants.order_by("position").values_list("name", "weight"))
    assert stored == [("control", 30), ("short", 60), ("third", 10)]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("weight", 10, "a new weight would move shoppers between variants"),
        ("position", 5, "a new order would move shoppers between variants"),
        ("name", "renamed", "impressions and results name the variant by it"),
        ("settings", {"k": 4}, "its shoppers would see something else mid-test"),
    ],
)
def test_a_running_test_s_variant_change_is_refused_naming_the_field_and_why(
    running, field, value, says
):
    variant = running.variants.get(name="short")
    setattr(variant, field, value)

    with pytest.raises(ValidationError) as cleaned:
        variant.full_clean()
    with pytest.raises(ValidationError) as saved:
        variant.save()

    for refused in (cleaned.value, saved.value):
        assert list(refused.message_dict) == [field]
        message = refused.message_dict[field][0]
        assert "since the A/B test 'Shorter list' started" in message and says in message
    assert Variant.objects.get(pk=variant.pk).__dict__[field] != value


def test_no_variant_is_added_to_or_removed_from_a_started_or_ended_test(running):
    for experiment in (running, stop_experiment(experiment=running, now=timezone.now())):
        added = Variant(experiment=experiment, position=2, name="third", kind="holdout", weight=1)
        with pytest.raises(ValidationError, match="No variant can be added or removed") as refused:
            added.save()
        with pytest.raises(ValidationError, match="move shoppers between variants"):
            experiment.variants.get(name="short").delete()

        assert "experiment" in refused.value.message_dict
        assert experiment.variants.count() == 2
    assert "ran" in refused.value.message_dict["experiment"][0]


def test_a_draft_s_variants_can_change_and_an_unchanged_save_of_a_running_one_passes(draft):
    variant = draft.variants.get(name="short")
    variant.weight, variant.settings = 40, {"k": 4}
    variant.full_clean()
    variant.save()
    start_experiment(experiment=draft, now=timezone.now())

    variant.refresh_from_db()
    variant.full_clean()
    variant.save()  # nothing changed: nothing refused

    assert Variant.objects.get(pk=variant.pk).weight == 40


def test_a_started_test_s_rule_set_is_fixed_and_a_draft_s_is_not(draft):
    shelf = Category.objects.create(name="Mugs", slug="mugs")
    rule = save_rule(
        rule=Rule(name="Fewer mugs", kind=RuleKind.BURY, strength="strong", category=shelf),
        placements=[draft.placement],
    )
    variant = draft.variants.get(name="short")
    variant.rules.add(rule)
    start_experiment(experiment=draft, now=timezone.now())

    # The manager writes in an atomic block without a savepoint: the caller's own keeps the
    # surrounding transaction usable after the refusal.
    with pytest.raises(ValidationError) as removed, transaction.atomic():
        variant.rules.remove(rule)
    with pytest.raises(ValidationError), transaction.atomic():
        variant.rules.clear()

    assert "since the A/B test 'Shorter list' started" in removed.value.message_dict["rules"][0]
    assert list(variant.rules.all()) == [rule]
