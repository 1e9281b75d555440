"""The one order a placement's pool goes through, rule kinds in this sequence:

1. **Exclusions** (the placement's own, before any rule): the page's product, the cart, the
   shopper's purchases, what was shown to the shopper in the last H hours (each when set);
   inactive and out-of-stock products never reach the pool (serving drops them, and a pinned
   product from outside the pool is checked too).
2. **Filters**: every include rule must match (they AND), any exclude rule drops. Nothing a
   filter removes comes back, not even by a pin.
3. **Boost / bury / rotation**: each matching rule multiplies the rank-normalised model score
   (``candidates.rank_normalise``: 1 for the model's best down to 1/n) by its grade: weak
   ×1.25, moderate ×1.5, strong ×2 (bury: the inverse). Composed, not a re-sort: a strong boost
   lifts an item past those scoring less than twice its score, no further. A rotation is a
   bury that hits only products shown to this shopper at least N times in its last H hours
   since their latest click (``behavior.shown_history``); with the history unreadable (Redis
   down) rotations are skipped.
4. **Pins**, highest priority first: a product at a position, or an *attribute slot* that
   takes the best-scored (after step 3) product matching the rule. A position already taken, or
   past k, is skipped; so is a pinned product the filters removed. Rotation does not move a
   product pinned by name (the merchandiser chose it), it does steer an attribute slot.
5. **Promotion share**: the free positions hold at least N products from active promotions
   (N a count, or a percent of k rounded up; pins count towards N; the largest N in force
   wins), the best-scored promoted ones, each at the position its score gives it; met exactly
   whenever enough promoted products remain.
6. **Diversity caps** of the placement (per category, per brand) bound steps 4-5's fill; pins
   count towards them but are never removed.

Attributes a rule may match on, all of which must hold: a category with everything below it,
a brand, a tag, a price band, a price relative to the page's product (cheaper, pricier, within
± X %: product and cart placements only, and skipped for a request with no known reference
product), a minimum stock, promoted or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from behavior.shown_history import ShownHistory
from placements.candidates import Candidate, capped
from placements.models import PriceRelation, Rule, RuleKind
from recommender.serving.catalog_state import CatalogSnapshot

GRADES = {"weak": 1.25, "moderate": 1.5, "strong": 2.0}


@dataclass(frozen=True)
class Audience:
    """Who is asking, as rule targets see them."""

    pk: int | None
    country: str
    segment: str
    returning: bool

    @property
    def known(self) -> bool:
        return self.pk is not None


@dataclass(frozen=True)
class RequestFacts:
    """What rules read about the request besides the candidates themselves."""

    now: float  # Unix seconds
    # The page's product's price (a cart placement: its last known item's); None without one.
    reference_price: Decimal | None = None
    # The shopper's showings (rotation); None when not read or unreadable.
    history: ShownHistory | None = None


def applicable(rule: Rule, facts: RequestFacts) -> bool:
    """Whether the rule can apply to this request: a relative price needs a reference."""
    return not rule.price_relation or facts.reference_price is not None


def matcher(
    rule: Rule, catalog: CatalogSnapshot, facts: RequestFacts | None = None
) -> Callable[[Candidate], bool]:
    """Whether a candidate has every attribute the rule names (its category or below, …).

    Built once per catalog snapshot for the attributes a rule names (20 rules were 18 matchers
    built per request); a price relative to the page's product is the request's own."""
    if rule.price_relation:
        return _matcher(rule, catalog, facts)
    key = ("placements.matcher", *_attributes_named(rule), rule.on_promotion)
    found = catalog.derived.get(key)
    if found is None:
        found = catalog.derived[key] = _matcher(rule, catalog, None)
    return found


def _matcher(
    rule: Rule, catalog: CatalogSnapshot, facts: RequestFacts | None
) -> Callable[[Candidate], bool]:
    categories = (
        frozenset(catalog.descendants(rule.category_id).tolist())
        if rule.category_id is not None
        else None
    )
    low, high = _price_band(rule, facts)
    brand = rule.brand.casefold()
    tag, min_stock, promoted = rule.tag, rule.min_stock, rule.on_promotion
    # Only the attributes the rule names, each its own test: a rule names one or two, and this
    # runs for every candidate and rule (20 rules × a pool of 40 per request).
    checks: list[Callable[[Candidate], bool]] = []
    if categories is not None:
        checks.append(lambda c: c.category in categories)
    if brand:
        checks.append(lambda c: c.brand.casefold() == brand)
    if tag:
        checks.append(lambda c: tag in c.tags)
    if low is not None:
        checks.append(lambda c: c.price >= low)
    if high is not None:
        checks.append(lambda c: c.price <= high)
    if min_stock is not None:
        checks.append(lambda c: c.stock is None or c.stock >= min_stock)
    if promoted is not None:
        checks.append(lambda c: c.promoted == promoted)
    if not checks:
        return lambda c: True
    if len(checks) == 1:
        return checks[0]
    return lambda c: all(check(c) for check in checks)


# A price strictly below (above) the reference: the band's bound moved by one cent.
_CENT = Decimal("0.01")


def _price_band(rule: Rule, facts: RequestFacts | None) -> tuple[Decimal | None, Decimal | None]:
    """The prices the rule allows, inclusive: its band, narrowed by its relative price."""
    low = Decimal(rule.price_min) if rule.price_min is not None else None
    high = Decimal(rule.price_max) if rule.price_max is not None else None
    reference = facts.reference_price if facts is not None else None
    if not rule.price_relation or reference is None:
        return low, high
    if rule.price_relation == PriceRelation.CHEAPER:
        bounds = (None, reference - _CENT)
    elif rule.price_relation == PriceRelation.PRICIER:
        bounds = (reference + _CENT, None)
    else:
        spread = reference * Decimal(rule.price_percent or 0) / 100
        bounds = (reference - spread, reference + spread)
    low = bounds[0] if low is None or (bounds[0] is not None and bounds[0] > low) else low
    high = bounds[1] if high is None or (bounds[1] is not None and bounds[1] < high) else high
    return low, high


def _attributes_named(rule: Rule) -> tuple:
    """The product attributes a rule matches on but the promotion flag: what its answer for a
    product depends on within one snapshot."""
    return (
        rule.category_id,
        rule.brand,
        rule.tag,
        rule.price_min,
        rule.price_max,
        rule.min_stock,
    )


def _rows_matching(rule: Rule, catalog: CatalogSnapshot) -> np.ndarray | None:
    """Bool over catalog rows: the products with every attribute the rule names but the
    promotion flag (the request's clock decides it), built once per snapshot; None when the
    rule reads the request (a relative price) or the snapshot holds no attributes."""
    attributes = catalog.attributes
    if rule.price_relation or attributes is None:
        return None
    key = ("placements.rows", *_attributes_named(rule))
    found = catalog.derived.get(key)
    if found is not None:
        return found
    found = np.ones(len(catalog), dtype=bool)
    if rule.category_id is not None:
        found &= np.isin(catalog.category, catalog.descendants(rule.category_id))
    if rule.brand:
        found &= attributes.brand == rule.brand.casefold()
    if rule.tag:
        tag = rule.tag
        found &= np.fromiter((tag in tags for tags in attributes.tags), bool, len(catalog))
    # Prices have cents: their order is the same as floats as it is as decimals.
    if rule.price_min is not None:
        found &= attributes.price >= float(rule.price_min)
    if rule.price_max is not None:
        found &= attributes.price <= float(rule.price_max)
    if rule.min_stock is not None:
        found &= np.isnan(attributes.stock) | (attributes.stock >= rule.min_stock)
    found.flags.writeable = False
    catalog.derived[key] = found
    return found


class _Pool:
    """The rows and promotion flags of a list of candidates, read once for all its rules."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.candidates = candidates
        self.rows = np.fromiter((c.row for c in candidates), np.int64, len(candidates))
        self.known = bool(self.rows.size) and bool((self.rows >= 0).all())
        self.promoted = np.fromiter((c.promoted for c in candidates), bool, len(candidates))

    def matches(
        self, rule: Rule, catalog: CatalogSnapshot, facts: RequestFacts | None
    ) -> np.ndarray:
        """Bool per candidate: the rule's attributes hold (``matcher``'s answer, read off the
        snapshot's rows when it can: 20 rules over a pool of 40 were 800 calls a request)."""
        rows = _rows_matching(rule, catalog) if self.known else None
        if rows is None:
            test = matcher(rule, catalog, facts)
            return np.fromiter((test(c) for c in self.candidates), bool, len(self.candidates))
        found = rows[self.rows]
        if rule.on_promotion is not None:
            found = found & (self.promoted == rule.on_promotion)
        return found


def drop_filtered(
    candidates: list[Candidate],
    *,
    rules: list[Rule],
    catalog: CatalogSnapshot,
    facts: RequestFacts | None = None,
) -> list[Candidate]:
    """Step 2: the candidates every include rule matches and no exclude rule does."""
    filters = [r for r in rules if r.kind in (RuleKind.INCLUDE, RuleKind.EXCLUDE)]
    if not filters or not candidates:
        return candidates
    pool = _Pool(candidates)
    keep = np.ones(len(candidates), dtype=bool)
    for rule in filters:
        found = pool.matches(rule, catalog, facts)
        keep &= found if rule.kind == RuleKind.INCLUDE else ~found
    return [c for c, kept in zip(candidates, keep.tolist(), strict=True) if kept]


def arrange(
    pool: list[Candidate],
    *,
    k: int,
    rules: list[Rule],
    catalog: CatalogSnapshot,
    per_category: int | None,
    per_brand: int | None,
    facts: RequestFacts | None = None,
) -> list[Candidate]:
    """Steps 3-6 on a filtered pool in the model's order: the ``k`` shown, best first, each
    carrying the marks of the rules that put it where it is."""
    _boost_and_bury(pool, rules=rules, catalog=catalog, facts=facts)
    ranked = sorted(pool, key=lambda c: -c.score)  # stable: the model's order breaks ties
    pins = _pins(ranked, k=k, rules=rules, catalog=catalog, facts=facts)
    pinned = {id(c) for c in pins.values()}
    rest = [c for c in ranked if id(c) not in pinned]
    shares = [r.share_for(k) for r in rules if r.kind == RuleKind.PROMOTION_SHARE]
    need = max(shares, default=0) - sum(c.promoted for c in pins.values())
    free = max(0, k - len(pins))
    caps = {"per_category": per_category, "per_brand": per_brand}
    chosen = _fill(rest, free=free, need=need, pinned=list(pins.values()), **caps)
    # What the share changed: the fill without it, when it asked for anything.
    natural = (
        _fill(rest, free=free, need=0, pinned=list(pins.values()), **caps) if need > 0 else chosen
    )
    before = {id(c) for c in natural}
    share_rules = [r.pk for r in rules if r.kind == RuleKind.PROMOTION_SHARE]
    for c in chosen:
        if c.promoted and id(c) not in before:
            c.marks.append("promotion share")
            c.rule_ids.extend(share_rules)
    shown = chosen
    for position in sorted(pins):
        shown.insert(min(position, len(shown)), pins[position])
    return shown[:k]


VERBS = {RuleKind.BOOST: "boosted", RuleKind.BURY: "buried", RuleKind.ROTATION: "rotated"}


def _boost_and_bury(
    pool: list[Candidate],
    *,
    rules: list[Rule],
    catalog: CatalogSnapshot,
    facts: RequestFacts | None,
) -> None:
    history = facts.history if facts is not None else None
    graded = [rule for rule in rules if rule.kind in VERBS]
    if not graded or not pool:
        return
    rows = _Pool(pool)
    for rule in graded:
        if rule.kind == RuleKind.ROTATION:
            if history is None:
                continue
            over = history.shown_at_least(
                int(rule.rotation_shows or 0), hours=float(rule.rotation_hours or 0)
            )
            if not over:
                continue
            hits = rows.matches(rule, catalog, facts)
            hits &= np.fromiter((c.pk in over for c in pool), bool, len(pool))
        else:
            hits = rows.matches(rule, catalog, facts)
        grade = GRADES[rule.strength]
        factor = grade if rule.kind == RuleKind.BOOST else 1 / grade
        mark = f"{VERBS[rule.kind]} {rule.strength}"
        for index in np.flatnonzero(hits).tolist():
            c = pool[index]
            c.score *= factor
            c.marks.append(mark)
            c.rule_ids.append(rule.pk)


def _pins(
    ranked: list[Candidate],
    *,
    k: int,
    rules: list[Rule],
    catalog: CatalogSnapshot,
    facts: RequestFacts | None,
) -> dict[int, Candidate]:
    """Step 4: 0-based position → the candidate pinned there."""
    pins: dict[int, Candidate] = {}
    taken: set[int] = set()
    for rule in rules:  # highest priority first (``Rule.Meta.ordering``)
        if rule.kind != RuleKind.PIN or not rule.position:
            continue
        position = rule.position - 1
        if position >= k or position in pins:
            continue
        if rule.product_id is not None:
            found = next((c for c in ranked if c.pk == rule.product_id), None)
            mark = "pinned"
        else:
            matches = matcher(rule, catalog, facts)
            found = next((c for c in ranked if id(c) not in taken and matches(c)), None)
            mark = "attribute slot"
        if found is None or id(found) in taken:
            continue
        found.marks.append(mark)
        found.rule_ids.append(rule.pk)
        pins[position] = found
        taken.add(id(found))
    return pins


def _fill(
    ranked: list[Candidate],
    *,
    free: int,
    need: int,
    pinned: list[Candidate],
    per_category: int | None,
    per_brand: int | None,
) -> list[Candidate]:
    """Up to ``free`` candidates in score order within the caps, at least ``need`` of them
    promoted when enough are: other products may take only ``free - need`` places until the
    promoted ones are found, then the places left go back to the best of the rest."""
    fits, take = capped(pinned, per_category=per_category, per_brand=per_brand)
    budget = free - max(0, need)
    chosen: list[Candidate] = []
    skipped: list[Candidate] = []
    for c in ranked:
        if len(chosen) >= free:
            break
        if not fits(c):
            continue
        if not c.promoted and budget <= 0:
            skipped.append(c)
            continue
        budget -= 0 if c.promoted else 1
        take(c)
        chosen.append(c)
    if not skipped or len(chosen) >= free:
        return chosen  # taken in score order
    for c in skipped:  # too few promoted products: the best others fill the rest
        if len(chosen) >= free:
            break
        if fits(c):
            take(c)
            chosen.append(c)
    order = {id(c): i for i, c in enumerate(ranked)}
    return sorted(chosen, key=lambda c: order[id(c)])
