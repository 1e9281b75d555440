"""The one order a placement's pool goes through, rule kinds in this sequence:

1. **Exclusions** (the placement's own, before any rule): the page's product, the cart, the
   shopper's purchases when set; inactive and out-of-stock products never reach the pool.
2. **Filters**: every include rule must match (they AND), any exclude rule drops. Nothing a
   filter removes comes back, not even by a pin.
3. **Boost / bury**: each matching rule multiplies the rank-normalised model score
   (``candidates.rank_normalise``: 1 for the model's best down to 1/n) by its grade: weak
   ×1.25, moderate ×1.5, strong ×2 (bury: the inverse). Composed, not a re-sort: a strong boost
   lifts an item past those scoring less than twice its score, no further.
4. **Pins**, highest priority first: a product at a position, or an *attribute slot* that
   takes the best-scored (after step 3) product matching the rule. A position already taken, or
   past k, is skipped; so is a pinned product the filters removed.
5. **Promotion share**: the free positions hold at least N products from active promotions
   (pins count towards N; the largest N in force wins), the best-scored promoted ones, each at
   the position its score gives it; met exactly whenever enough promoted products remain.
6. **Diversity caps** of the placement (per category, per brand) bound steps 4-5's fill; pins
   count towards them but are never removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from placements.candidates import Candidate, capped
from placements.models import Rule, RuleKind
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


def matcher(rule: Rule, catalog: CatalogSnapshot) -> Callable[[Candidate], bool]:
    """Whether a candidate has every attribute the rule names (its category or below, …)."""
    categories = (
        frozenset(catalog.descendants(rule.category_id).tolist())
        if rule.category_id is not None
        else None
    )
    low = Decimal(rule.price_min) if rule.price_min is not None else None
    high = Decimal(rule.price_max) if rule.price_max is not None else None

    def matches(c: Candidate) -> bool:
        if categories is not None and c.category not in categories:
            return False
        if rule.brand and c.brand.casefold() != rule.brand.casefold():
            return False
        if (low is not None and c.price < low) or (high is not None and c.price > high):
            return False
        if rule.min_stock is not None and c.stock is not None and c.stock < rule.min_stock:
            return False
        return rule.on_promotion is None or c.promoted == rule.on_promotion

    return matches


def drop_filtered(
    candidates: list[Candidate], *, rules: list[Rule], catalog: CatalogSnapshot
) -> list[Candidate]:
    """Step 2: the candidates every include rule matches and no exclude rule does."""
    include = [matcher(r, catalog) for r in rules if r.kind == RuleKind.INCLUDE]
    exclude = [matcher(r, catalog) for r in rules if r.kind == RuleKind.EXCLUDE]
    return [c for c in candidates if all(m(c) for m in include) and not any(m(c) for m in exclude)]


def arrange(
    pool: list[Candidate],
    *,
    k: int,
    rules: list[Rule],
    catalog: CatalogSnapshot,
    per_category: int | None,
    per_brand: int | None,
) -> list[Candidate]:
    """Steps 3-6 on a filtered pool in the model's order: the ``k`` shown, best first, each
    carrying the marks of the rules that put it where it is."""
    _boost_and_bury(pool, rules=rules, catalog=catalog)
    ranked = sorted(pool, key=lambda c: -c.score)  # stable: the model's order breaks ties
    pins = _pins(ranked, k=k, rules=rules, catalog=catalog)
    pinned = {id(c) for c in pins.values()}
    rest = [c for c in ranked if id(c) not in pinned]
    shares = [r.share_count or 0 for r in rules if r.kind == RuleKind.PROMOTION_SHARE]
    need = max(shares, default=0) - sum(c.promoted for c in pins.values())
    free = max(0, k - len(pins))
    caps = {"per_category": per_category, "per_brand": per_brand}
    natural = _fill(rest, free=free, need=0, pinned=list(pins.values()), **caps)
    chosen = _fill(rest, free=free, need=need, pinned=list(pins.values()), **caps)
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


def _boost_and_bury(pool: list[Candidate], *, rules: list[Rule], catalog: CatalogSnapshot) -> None:
    for rule in rules:
        if rule.kind not in (RuleKind.BOOST, RuleKind.BURY):
            continue
        grade = GRADES[rule.strength]
        factor = grade if rule.kind == RuleKind.BOOST else 1 / grade
        verb = "boosted" if rule.kind == RuleKind.BOOST else "buried"
        matches = matcher(rule, catalog)
        for c in pool:
            if matches(c):
                c.score *= factor
                c.marks.append(f"{verb} {rule.strength}")
                c.rule_ids.append(rule.pk)


def _pins(
    ranked: list[Candidate], *, k: int, rules: list[Rule], catalog: CatalogSnapshot
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
            matches = matcher(rule, catalog)
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
    for c in skipped:  # too few promoted products: the best others fill the rest
        if len(chosen) >= free:
            break
        if fits(c):
            take(c)
            chosen.append(c)
    order = {id(c): i for i, c in enumerate(ranked)}
    return sorted(chosen, key=lambda c: order[id(c)])
