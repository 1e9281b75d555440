"""Serving a placement: its slot through ``service.recommend`` on a pool larger than ``k``,
the fallback chain while the pool is short, then the placement's exclusions and caps and the
merchandiser's rules (``ordering``) on that pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from behavior.selectors import product_ids_for_skus, purchase_totals
from behavior.shown_history import ShownHistory, shown_history
from config.recommendation_ids import new_recommendation_id
from placements.candidates import Candidate, candidates_from, rank_normalise
from placements.experiments.selectors import Arm
from placements.models import Context, Placement, Rule, RuleKind
from placements.ordering import Audience, RequestFacts, applicable, arrange, drop_filtered
from placements.selectors import LiveSetup, live_setup, rules_for, shown_questions, targets
from recommender.proof.shown import log_shown
from recommender.serving.catalog_state import (
    CatalogSnapshot,
    catalog_at,
    checked_catalog,
    current_catalog,
)
from recommender.serving.clock import replay_cutoff
from recommender.serving.model_cache import ServingModel
from recommender.serving.products import ProductNotFound, bought_together, similar_products
from recommender.serving.reasons import Reason
from recommender.serving.results import Recommendation, Recommendations, product_cards
from recommender.serving.service import recommend, shopper_info
from recommender.serving.slots import ShopperInfo

# The pool the rules choose from: a pin, a share or a filter needs items beyond the top k.
POOL_FACTOR = 4
MIN_POOL = 20
MAX_CART = 50


class MissingContext(ValueError):
    """The placement needs a request parameter that was not given; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PlacedItem:
    recommendation: Recommendation
    marks: tuple[str, ...] = ()  # what rules did to it ("pinned", "boosted strong", …)
    rule_ids: tuple[int, ...] = ()  # the rules behind those marks, for the KPIs per rule

    def as_dict(self) -> dict[str, Any]:
        return {**self.recommendation.as_dict(), "marks": list(self.marks)}


@dataclass(frozen=True)
class PlacedList:
    """A placement's answer: its items best first and what produced them."""

    placement: str
    strategy: str
    items: list[PlacedItem]
    shopper: dict[str, Any]
    product: str | None
    generated_at: datetime
    model_version: dict[str, Any] | None = None
    rules: list[int] = field(default_factory=list)  # ids of the rules that were in force
    # Stamped per response served (``served``), as the slot endpoints do: see recommender.proof.
    recommendation_id: str | None = None
    variant: str = ""  # the A/B test arm's key; empty outside tests and for anonymous shoppers

    def served(self) -> PlacedList:
        """This answer with a fresh ``recommendation_id``: the instance a shopper is shown."""
        return replace(self, recommendation_id=new_recommendation_id())

    def as_dict(self) -> dict[str, Any]:
        return {
            "placement": self.placement,
            "strategy": self.strategy,
            "recommendation_id": self.recommendation_id,
            "variant": self.variant,
            "count": len(self.items),
            "results": [
                {**item.as_dict(), "position": n} for n, item in enumerate(self.items, start=1)
            ],
            "model_version": self.model_version,
            "sources": sorted({item.recommendation.source for item in self.items}),
            "shopper": self.shopper,
            "product": self.product,
            "generated_at": self.generated_at.isoformat(),
        }


def live_placement_recommendations(
    *,
    name: str,
    now: datetime,
    shopper: str = "",
    product: str = "",
    cart: tuple[str, ...] = (),
    k: int | None = None,
    country: str = "",
) -> PlacedList | None:
    """What the API serves for the switched-on placement called ``name`` (None: there is
    none): its live rules, and the shopper's variant while an A/B test runs on it. The setup,
    its version check and the shopper's shown history cost one Redis round trip, no query.
    The errors of ``placement_recommendations``."""
    live = live_setup(name=name, shopper=shopper, now=now)
    if live is None:
        return None
    return placement_recommendations(
        placement=live.placement,
        now=now,
        shopper=shopper,
        product=product,
        cart=cart,
        k=k,
        country=country,
        arm=live.test.arm_for(shopper) if live.test is not None else None,
        live=live,
    )


def placement_recommendations(
    *,
    placement: Placement,
    now: datetime,
    shopper: str = "",
    product: str = "",
    cart: tuple[str, ...] = (),
    k: int | None = None,
    country: str = "",
    drafts: bool = False,
    rules: list[Rule] | None = None,
    models: dict[str, ServingModel] | None = None,
    served_lists: dict | None = None,
    arm: Arm | None = None,
    live: LiveSetup | None = None,
) -> PlacedList:
    """The placement's best ``k`` (default its own) for this request, every rule in force at
    ``now`` for this shopper applied in the documented order; ``drafts`` adds draft rules (the
    dashboard's preview), which the API never does. An A/B test's ``arm`` changes the
    placement's settings, model or rules first, or (a holdout) answers an empty list. Raises
    ``MissingContext`` when the placement needs a product or a cart and none was given, and
    ``ProductNotFound`` for an unknown ``product`` sku.

    A replay (``placements.whatif``) gives ``rules`` (those targeting this shopper apply, their
    schedules already decided), ``models`` (scratch models replacing the champions) and
    ``served_lists``, a dict that keeps the slots' lists for a second call on the same request
    (the rules differ, the model's lists do not: it halves a what-if's serving time). The API
    gives ``live``, the setup it read for this request (``live_placement_recommendations``)."""
    # Anonymous visitors get the control but are not counted: the test's unit is the shopper.
    variant = arm.key if arm is not None and shopper else ""
    if arm is not None:
        placement = arm.applied_to(placement)
    k = placement.k if k is None else k
    anchor = _anchor(placement, product=product, cart=cart)
    # Read once: rule targets use it, and every slot asked below gets it (a query each saved).
    info = shopper_info(shopper=shopper, country=country)
    audience = _audience(info)
    if arm is not None and arm.is_holdout:
        return PlacedList(
            placement=placement.name,
            strategy=placement.strategy,
            items=[],
            shopper={"external_id": shopper, "known": audience.known},
            product=anchor or None,
            generated_at=now,
            variant=variant,
        )
    if rules is None:
        rules = rules_for(
            placement=placement, now=now, audience=audience, drafts=drafts, arm=arm, live=live
        )
    else:
        rules = [rule for rule in rules if targets(rule, audience)]
    relative = any(rule.price_relation for rule in rules)
    found = _context_products(placement, product=product, cart=cart, relative=relative)
    read = live.history if live is not None else None
    history = _history(placement, rules=rules, shopper=shopper, now=now, read=read)
    excluded = _excluded(
        placement,
        found=found,
        product=product,
        cart=cart,
        audience=audience,
        history=history,
        now=now,
    )
    pool_k = min(settings.SHELFWISE_MAX_K, max(k * POOL_FACTOR, MIN_POOL))

    def facts_on(catalog: CatalogSnapshot) -> RequestFacts:
        return _facts(found, catalog=catalog, product=product, cart=cart, **situation)

    situation = {"history": history, "now": now, "relative": relative}
    pool: list[Candidate] = []
    first: Recommendations | None = None
    catalog = facts = None
    for strategy in (placement.strategy, *placement.fallback):
        key = (strategy, shopper, anchor, pool_k, now, country, placement.serving_model)
        if served_lists is not None:  # the exclusions shape the list too
            key += (frozenset(excluded),)
        if served_lists is not None and key in served_lists:
            served = served_lists[key]
        else:
            served = _serve(
                strategy,
                shopper=info,
                anchor=anchor,
                k=pool_k,
                now=now,
                country=country,
                models=models,
                serving_model=placement.serving_model,
                excluded=excluded,
            )
            if served_lists is not None:
                served_lists[key] = served
        if served is None:
            continue
        if catalog is None:  # the snapshot serving just checked: no second version read
            catalog = catalog_at(checked_catalog(), now=now)
            facts = facts_on(catalog)
            rules = [rule for rule in rules if applicable(rule, facts)]
        first = first or served
        seen = excluded | {c.pk for c in pool}
        fresh = [item for item in served.items if item.product.id not in seen]
        # The minimum holds the placement's own slot to its standard; the fallback is the fill.
        minimum = placement.min_relevance if strategy == placement.strategy else 0.0
        found_here = candidates_from(fresh, catalog=catalog, now=now, min_relevance=minimum)
        pool += drop_filtered(found_here, rules=rules, catalog=catalog, facts=facts)
        if len(pool) >= k:
            break
    if catalog is None or facts is None:
        catalog = catalog_at(current_catalog(), now=now)
        facts = facts_on(catalog)
        rules = [rule for rule in rules if applicable(rule, facts)]
    pool += _promoted_supply(
        pool,
        rules=rules,
        excluded=excluded,
        catalog=catalog,
        facts=facts,
        request=(info, k, pool_k, now, country),
        models=models,
    )
    rank_normalise(pool)
    pool += _pinned_outside(
        pool, rules=rules, excluded=excluded, catalog=catalog, facts=facts, now=now
    )
    placed = arrange(
        pool,
        k=k,
        rules=rules,
        catalog=catalog,
        per_category=placement.max_per_category,
        per_brand=placement.max_per_brand,
        facts=facts,
    )
    return PlacedList(
        placement=placement.name,
        strategy=placement.strategy,
        items=[PlacedItem(c.item, tuple(c.marks), tuple(c.rule_ids)) for c in placed],
        shopper={"external_id": shopper, "known": audience.known},
        product=anchor or None,
        generated_at=now,
        model_version=first.model_version if first is not None else None,
        rules=[rule.pk for rule in rules],
        variant=variant,
    )


def _promoted_supply(
    pool: list[Candidate],
    *,
    rules: list[Rule],
    excluded: set[int],
    catalog: CatalogSnapshot,
    facts: RequestFacts,
    request: tuple[ShopperInfo, int, int, datetime, str],
    models: dict[str, ServingModel] | None,
) -> list[Candidate]:
    """When a promotion share wants more promoted products than the pool holds, the
    "promotions" slot's own ranking of them for this shopper, below the pool: the share then
    takes the ones the model likes best, never random ones."""
    shopper, k, pool_k, now, country = request
    shares = (r.share_for(k) for r in rules if r.kind == RuleKind.PROMOTION_SHARE)
    if sum(c.promoted for c in pool) >= max(shares, default=0):
        return []
    if not catalog.active_promotions(now=now):  # nothing to supply: spare the slot's call
        return []
    served = recommend(
        shopper=shopper.external_id,
        read=shopper,
        slot="promotions",
        k=pool_k,
        now=now,
        country=country,
        models=models,
        exclude=excluded,
    )
    seen = excluded | {c.pk for c in pool}
    fresh = [item for item in served.items if item.product.id not in seen]
    found = candidates_from(fresh, catalog=catalog, now=now)
    promoted = [c for c in found if c.promoted]
    return drop_filtered(promoted, rules=rules, catalog=catalog, facts=facts)


def _pinned_outside(
    pool: list[Candidate],
    *,
    rules: list[Rule],
    excluded: set[int],
    catalog: CatalogSnapshot,
    facts: RequestFacts,
    now: datetime,
) -> list[Candidate]:
    """Pinned products the model did not put in the pool, at the bottom of it (base 0), through
    the same exclusions and filters: a pin places a product, it does not unhide one."""
    wanted = [r.product_id for r in rules if r.kind == RuleKind.PIN and r.product_id]
    if not wanted:
        return []
    inside = {c.pk for c in pool} | excluded
    wanted = [pk for pk in wanted if pk not in inside]
    if not wanted:
        return []
    cards = product_cards(wanted, memo=catalog.card_memo)
    featured = Reason("pinned", "featured by the shop")
    items = [
        Recommendation(product=card, score=0.0, reason=featured, source="rule:pin")
        for pk in dict.fromkeys(wanted)
        if (card := cards.get(pk)) is not None and catalog.on_sale(card)
    ]
    found = candidates_from(items, catalog=catalog, now=now)
    return drop_filtered(found, rules=rules, catalog=catalog, facts=facts)


def _anchor(placement: Placement, *, product: str, cart: tuple[str, ...]) -> str:
    """The sku a product list is about: the page's product, else the cart's last item."""
    if placement.context == Context.PRODUCT and not product:
        raise MissingContext("product", "This placement is on a product page: give ?product=.")
    if placement.context == Context.CART and not cart:
        raise MissingContext("cart", "This placement is about a cart: give ?cart=sku1,sku2.")
    if not placement.about_product:
        return product
    return product or cart[-1]


def _audience(info: ShopperInfo) -> Audience:
    """Who is asking, as rule targets see them."""
    # Known to the shop (sent as a shopper or with events): they have been here before.
    return Audience(pk=info.pk, country=info.country, segment=info.segment, returning=info.known)


def _context_products(
    placement: Placement, *, product: str, cart: tuple[str, ...], relative: bool
) -> dict[str, int]:
    """Sku → pk of the page's product and of the cart's items when they are needed (to
    exclude, or to price against), in one query; ``ProductNotFound`` for an unknown page's
    product. Unknown cart skus are left out: a cart may outlive a product."""
    skus = [product] if product else []
    if placement.exclude_in_cart or relative:
        skus += list(cart)
    found = product_ids_for_skus(skus=skus) if skus else {}
    if product and product not in found:
        raise ProductNotFound(product)
    return found


def _facts(
    found: dict[str, int],
    *,
    product: str,
    cart: tuple[str, ...],
    catalog: CatalogSnapshot,
    history: ShownHistory | None,
    now: datetime,
    relative: bool,
) -> RequestFacts:
    """What the rules read about this request besides the candidates."""
    reference = (
        _reference_price(found, product=product, cart=cart, catalog=catalog) if relative else None
    )
    return RequestFacts(now=now.timestamp(), reference_price=reference, history=history)


def _reference_price(
    found: dict[str, int], *, product: str, cart: tuple[str, ...], catalog: CatalogSnapshot
) -> Decimal | None:
    """The price relative-price rules compare with: the page's product's, else the cart's
    last known item's; None when there is neither."""
    sku = product or next((sku for sku in reversed(cart) if sku in found), "")
    if not sku:
        return None
    card = product_cards([found[sku]], memo=catalog.card_memo).get(found[sku])
    return Decimal(card.price) if card is not None else None


def _history(
    placement: Placement,
    *,
    rules: list[Rule],
    shopper: str,
    now: datetime,
    read: ShownHistory | None,
) -> ShownHistory | None:
    """The shopper's shown history as the rotations and the "recently shown" exclusion in
    force ask it: ``read`` when it answers them (read with the setup), else one Redis command;
    None when nothing asks or Redis is down."""
    questions = shown_questions(placement, rules)
    if not shopper or not questions:
        return None
    if read is not None and questions.covered_by(read.asked):
        return read
    return shown_history(shopper=shopper, now=now, questions=questions)


def _excluded(
    placement: Placement,
    *,
    found: dict[str, int],
    product: str,
    cart: tuple[str, ...],
    audience: Audience,
    history: ShownHistory | None,
    now: datetime,
) -> set[int]:
    """Products the placement never shows this request: the page's own product, the cart's,
    the shopper's purchases (at a past ``now``, those before it) and what the shopper was shown
    in the last hours (each when set).
    Out of stock is always excluded by serving itself."""
    skus = ([product] if product else []) + (list(cart) if placement.exclude_in_cart else [])
    excluded = {found[sku] for sku in skus if sku in found}
    if placement.exclude_bought and audience.pk is not None:
        pks, *_ = purchase_totals(
            shopper_id=audience.pk,
            before=replay_cutoff(now),
            reference=now.timestamp(),
            rate=0.0,
        )
        excluded |= {int(pk) for pk in pks}
    if placement.exclude_shown_hours and history is not None:
        excluded |= history.recently_shown()
    return excluded


def _serve(
    strategy: str,
    *,
    shopper: ShopperInfo,
    anchor: str,
    k: int,
    now: datetime,
    country: str,
    models: dict[str, ServingModel] | None,
    serving_model: str = "",
    excluded: set[int] = frozenset(),
) -> Recommendations | None:
    """One strategy's list through the serving entry points; None when it cannot apply (a
    product list without a product). ``serving_model`` pins the algorithm behind "for you"
    (empty: the shop's setting). A slot leaves ``excluded`` out of its ``k`` itself; a
    product list is asked for as many more (a shopper shown the page a few times in the hour
    still gets the model's own next best, not the fallback chain's)."""
    if strategy in ("similar", "bought_together"):
        if not anchor:
            return None
        listed = similar_products if strategy == "similar" else bought_together
        room = min(settings.SHELFWISE_MAX_K, k + len(excluded))
        return listed(sku=anchor, k=room, now=now, models=models)
    return recommend(
        shopper=shopper.external_id,
        read=shopper,
        slot=strategy,
        k=k,
        now=now,
        country=country,
        models=models,
        serving_model=serving_model or None,
        exclude=excluded,
    )


def parse_cart(value: str) -> tuple[str, ...]:
    """``sku1,sku2`` as skus in order, blanks dropped; ValueError past ``MAX_CART`` items."""
    skus = tuple(sku.strip() for sku in value.split(",") if sku.strip())
    if len(skus) > MAX_CART:
        raise ValueError(f"At most {MAX_CART} skus.")
    return skus


@dataclass(frozen=True)
class Preview:
    """A placement as shoppers get it now (live rules) and as it would be with its drafts."""

    live: PlacedList
    with_drafts: PlacedList


def preview_placement(
    *,
    placement: Placement,
    now: datetime,
    shopper: str = "",
    product: str = "",
    cart: tuple[str, ...] = (),
) -> Preview:
    """The placement for one request before and after its draft rules (the dashboard's
    "preview as shopper X"); the same errors as ``placement_recommendations``."""
    request = {"placement": placement, "now": now, "shopper": shopper, "product": product}
    return Preview(
        live=placement_recommendations(cart=cart, **request),
        with_drafts=placement_recommendations(cart=cart, drafts=True, **request),
    )


def serve_placement(result: PlacedList, *, now: datetime) -> PlacedList:
    """``result`` as shown: a fresh id, and its impression buffered like a slot's (no database
    write on the request)."""
    served = result.served()
    log_shown(
        recommendation_id=served.recommendation_id or "",
        placement=served.placement,
        model_version=served.model_version,
        product_ids=[item.recommendation.product.id for item in served.items],
        shopper=served.shopper.get("external_id", ""),
        product=served.product or "",
        now=now,
        variant=served.variant,
        rules=_items_per_rule(served.items),
    )
    return served


def _items_per_rule(items: list[PlacedItem]) -> dict[str, list[int]]:
    """Rule id → the product ids it touched in this answer: the impression's ``rules``."""
    touched: dict[str, list[int]] = {}
    for item in items:
        for rule_id in dict.fromkeys(item.rule_ids):  # a rule twice on one item counts once
            touched.setdefault(str(rule_id), []).append(item.recommendation.product.id)
    return touched
