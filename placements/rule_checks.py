"""What makes a rule valid: on its own (``rule_errors``, from ``Rule.clean``) and on the
placements it applies to (``placement_errors``: positions and shares within k, no pin fighting
another live pin for the same position at the same time)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from behavior.countries import country_code
from placements.models import Placement, Rule, RuleKind, RuleState

FILTERS = (RuleKind.INCLUDE, RuleKind.EXCLUDE, RuleKind.BOOST, RuleKind.BURY)


def has_attributes(rule: Rule) -> bool:
    return any(
        (
            rule.category_id is not None,
            bool(rule.brand),
            rule.price_min is not None,
            rule.price_max is not None,
            rule.min_stock is not None,
            rule.on_promotion is not None,
        )
    )


def rule_errors(rule: Rule) -> dict[str, str]:
    """Field → what is wrong with the rule by itself; empty when nothing is."""
    errors: dict[str, str] = {}
    if rule.starts_at and rule.ends_at and rule.ends_at <= rule.starts_at:
        errors["ends_at"] = "A rule must end after it starts."
    unknown = [c for c in country_list(rule.countries) if not country_code(c)]
    if unknown:
        errors["countries"] = f"Not an ISO country code: {', '.join(unknown)}."
    low, high = rule.price_min, rule.price_max
    if low is not None and high is not None and high < low:
        errors["price_max"] = "The price band ends below where it starts."
    kind = rule.kind
    if kind in FILTERS and not has_attributes(rule):
        errors["kind"] = "Say which products it matches: a category, brand, price band, stock…"
    if kind in (RuleKind.BOOST, RuleKind.BURY) and not rule.strength:
        errors["strength"] = "Weak, moderate or strong."
    if kind != RuleKind.PIN and (rule.product_id is not None or rule.position is not None):
        errors["position"] = "Only a pin has a product and a position."
    if kind == RuleKind.PIN:
        errors.update(_pin_errors(rule))
    if kind == RuleKind.PROMOTION_SHARE:
        if not rule.share_count:
            errors["share_count"] = "How many promoted products at least (1 or more)."
        elif rule.share_count > settings.SHELFWISE_MAX_K:
            errors["share_count"] = f"At most {settings.SHELFWISE_MAX_K}, the largest list."
    elif rule.share_count is not None:
        errors["share_count"] = "Only a promotion share has a count."
    return errors


def _pin_errors(rule: Rule) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not rule.position:
        errors["position"] = "Which position, 1 = first."
    elif rule.position > settings.SHELFWISE_MAX_K:
        errors["position"] = f"At most {settings.SHELFWISE_MAX_K}, the largest list."
    if rule.product_id is None and not has_attributes(rule):
        errors["product"] = "Pin a product, or give attributes for the best match to take it."
    elif rule.product_id is not None and has_attributes(rule):
        errors["product"] = "A product or attributes, not both."
    elif rule.product_id is not None:
        product = rule.product
        if not product.is_active or not product.in_stock:
            errors["product"] = f"{product.sku} is inactive or out of stock: it cannot be shown."
    return errors


def placement_errors(rule: Rule, placements: Iterable[Placement]) -> dict[str, str]:
    """Field → what is wrong with the rule on these placements; empty when nothing is."""
    placements = list(placements)
    errors: dict[str, str] = {}
    if not placements:
        errors["placements"] = "Choose at least one placement."
    for placement in placements:
        if rule.position and rule.position > placement.k:
            errors["position"] = f"Position {rule.position} is past {placement.name}'s k."
        if rule.share_count and rule.share_count > placement.k:
            errors["share_count"] = f"{rule.share_count} is more than {placement.name} shows."
    if rule.kind == RuleKind.PIN and rule.position and rule.state == RuleState.LIVE:
        rival = _rival_pin(rule, placements)
        if rival is not None:
            errors["position"] = (
                f"Live pin {rival.name!r} takes position {rule.position} at the same time with "
                "the same priority: change a priority or the schedules."
            )
    return errors


def _rival_pin(rule: Rule, placements: list[Placement]) -> Rule | None:
    """Another live pin at the same position and priority, on a shared placement, whose
    schedule overlaps this one's: which one wins would be an accident of ids."""
    rivals = (
        Rule.objects.filter(
            kind=RuleKind.PIN,
            state=RuleState.LIVE,
            position=rule.position,
            priority=rule.priority,
            placements__in=placements,
        )
        .exclude(pk=rule.pk)
        .distinct()
    )
    for other in rivals:
        starts_before_end = rule.ends_at is None or other.starts_at is None
        starts_before_end = starts_before_end or other.starts_at < rule.ends_at
        ends_after_start = rule.starts_at is None or other.ends_at is None
        ends_after_start = ends_after_start or other.ends_at > rule.starts_at
        if starts_before_end and ends_after_start:
            return other
    return None


def country_list(value: str) -> list[str]:
    return [c.strip().upper() for c in value.split(",") if c.strip()]


def rules_past_k(placement: Placement) -> dict[str, str]:
    """Field → what a placement's k would break: a rule's position or share past it."""
    if placement.pk is None:
        return {}
    rules = Rule.objects.filter(placements=placement)
    cut = [
        rule.name
        for rule in rules
        if (rule.position or 0) > placement.k or (rule.share_count or 0) > placement.k
    ]
    if not cut:
        return {}
    return {"k": f"Rules ask for more than {placement.k}: {', '.join(sorted(cut))}."}
