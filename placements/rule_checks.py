"""What makes a rule valid: on its own (``rule_errors``, from ``Rule.clean``) and on the
placements it applies to (``placement_errors``: positions and shares within k, a relative
price only where there is a page's product, and no live rule it would fight at the same time
for the same shoppers: a pin for its position or its product, a promotion share for the
share)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from behavior.countries import country_code
from placements.models import Context, Placement, PriceRelation, Rule, RuleKind, RuleState

FILTERS = (RuleKind.INCLUDE, RuleKind.EXCLUDE, RuleKind.BOOST, RuleKind.BURY)
GRADED = (RuleKind.BOOST, RuleKind.BURY, RuleKind.ROTATION)


def has_attributes(rule: Rule) -> bool:
    return any(
        (
            rule.category_id is not None,
            bool(rule.brand),
            rule.price_min is not None,
            rule.price_max is not None,
            bool(rule.price_relation),
            bool(rule.tag),
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
    if kind in GRADED and not rule.strength:
        errors["strength"] = "Weak, moderate or strong."
    errors.update(_relative_price_errors(rule))
    errors.update(_rotation_errors(rule))
    if kind != RuleKind.PIN and (rule.product_id is not None or rule.position is not None):
        errors["position"] = "Only a pin has a product and a position."
    if kind == RuleKind.PIN:
        errors.update(_pin_errors(rule))
    if kind == RuleKind.PROMOTION_SHARE:
        errors.update(_share_errors(rule))
    else:
        if rule.share_count is not None:
            errors["share_count"] = "Only a promotion share has a count."
        if rule.share_percent is not None:
            errors["share_percent"] = "Only a promotion share has a percent."
    return errors


def _share_errors(rule: Rule) -> dict[str, str]:
    count, percent = rule.share_count, rule.share_percent
    if count is not None and percent is not None:
        return {"share_percent": "A count or a percent of the list, not both."}
    if percent is not None:
        if not 1 <= percent <= 100:
            return {"share_percent": f"{percent} % is not a share: from 1 to 100 % of the list."}
        return {}
    if not count:
        return {"share_count": "How many promoted products at least (1 or more), or a percent."}
    if count > settings.SHELFWISE_MAX_K:
        return {"share_count": f"At most {settings.SHELFWISE_MAX_K}, the largest list."}
    return {}


def _relative_price_errors(rule: Rule) -> dict[str, str]:
    if rule.price_relation == PriceRelation.WITHIN:
        if not rule.price_percent or rule.price_percent > 100:
            return {"price_percent": "Within how many percent of its price (1 to 100)."}
    elif rule.price_percent is not None:
        return {"price_percent": 'Only "within" takes a percent.'}
    return {}


def _rotation_errors(rule: Rule) -> dict[str, str]:
    errors: dict[str, str] = {}
    longest = settings.SHELFWISE_SHOWN_HISTORY_HOURS
    if rule.kind != RuleKind.ROTATION:
        if rule.rotation_shows is not None or rule.rotation_hours is not None:
            errors["rotation_shows"] = "Only a rotation counts showings."
        return errors
    if not rule.rotation_shows:
        errors["rotation_shows"] = "After how many showings without a click (1 or more)."
    if not rule.rotation_hours or rule.rotation_hours > longest:
        errors["rotation_hours"] = f"Within how many hours, 1 to {longest} (the history kept)."
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
        if rule.price_relation and placement.context == Context.SHOPPER:
            errors["price_relation"] = (
                f"{placement.name} is a shopper placement: it has no page's product to "
                "compare prices with."
            )
    if rule.state == RuleState.LIVE:
        errors.update(_conflicts(rule, placements))
    return errors


def _conflicts(rule: Rule, placements: list[Placement]) -> dict[str, str]:
    """Live rules on a shared placement, in force at the same time for the same shoppers,
    that this one would fight: which one wins would be an accident of ids."""
    if rule.kind == RuleKind.PIN and rule.position:
        same_slot = _rival(rule, placements, position=rule.position, priority=rule.priority)
        if same_slot is not None:
            return {
                "position": f"Live pin {same_slot.name!r} takes position {rule.position} at "
                "the same time with the same priority: change a priority or the schedules."
            }
        if rule.product_id is not None:
            elsewhere = _rival(rule, placements, product_id=rule.product_id)
            if elsewhere is not None and elsewhere.position != rule.position:
                return {
                    "product": f"Live pin {elsewhere.name!r} puts {rule.product.sku} at "
                    f"position {elsewhere.position} at the same time: one product, one place."
                }
    if rule.kind == RuleKind.PROMOTION_SHARE:
        other = _rival(rule, placements)
        if other is not None:
            field = "share_percent" if rule.share_percent is not None else "share_count"
            return {
                field: f"Live promotion share {other.name!r} applies at the same time to the "
                "same shoppers: keep one share per placement, or part their schedules."
            }
    return {}


def _rival(rule: Rule, placements: list[Placement], **same: object) -> Rule | None:
    """A live rule of the same kind (and the ``same`` field values) on a shared placement
    whose schedule and target overlap this one's."""
    rivals = (
        Rule.objects.filter(kind=rule.kind, state=RuleState.LIVE, placements__in=placements, **same)
        .exclude(pk=rule.pk)
        .distinct()
    )
    for other in rivals:
        starts_before_end = rule.ends_at is None or other.starts_at is None
        starts_before_end = starts_before_end or other.starts_at < rule.ends_at
        ends_after_start = rule.starts_at is None or other.ends_at is None
        ends_after_start = ends_after_start or other.ends_at > rule.starts_at
        if starts_before_end and ends_after_start and _same_shoppers(rule, other):
            return other
    return None


def _same_shoppers(rule: Rule, other: Rule) -> bool:
    """Whether some shopper is in both rules' targets (empty countries or segment: all)."""
    ours, theirs = set(country_list(rule.countries)), set(country_list(other.countries))
    if ours and theirs and not ours & theirs:
        return False
    if rule.segment and other.segment and rule.segment != other.segment:
        return False
    audiences = {rule.audience, other.audience}
    return not {"new", "returning"} <= audiences


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
