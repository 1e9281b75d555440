"""How each slot ranks: a candidate mask over the catalog and a chain of ranking stages.

Every slot walks its stages in order (personal model → trending in the shopper's country →
their segment → their declared interests → global popularity → newest products), taking
eligible rows not yet picked until it holds a pool of ``3 k``; diversity then picks ``k``.
So a slot is never empty while an eligible product exists, and each item says which stage
(``source``) put it there. All arrays are indexed by catalog row (see ``catalog_state``).

Search queries count through the content index: each of the shopper's recent queries scores
the catalog by text cosine, and that score joins the behavioural model's in catalog-row space
(so products without events can be found), each source weighted by its events' weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.conf import settings

from behavior.countries import country_name
from recommender.core import Recommender
from recommender.core.ranking import top_k_row
from recommender.serving import reasons
from recommender.serving.catalog_state import CatalogSnapshot, PromotionInfo
from recommender.serving.model_cache import ServingModel, champion_models, content_model
from recommender.serving.realtime import Profile
from recommender.serving.reasons import Reason
from recommender.serving.rules import eligible, varied
from recommender.serving.trending import popular_rows, trending_rows

SLOTS = ("for_you", "promotions", "points", "trending", "new_arrivals", "buy_again")
POOL_FACTOR = 3


@dataclass(frozen=True)
class ShopperInfo:
    pk: int | None
    external_id: str
    country: str = ""
    segment: str = ""
    points_balance: int = 0
    interests: frozenset[int] = frozenset()
    # Shopper.events_version: changes with every stored event (keys the shopper's caches).
    events_version: int = 0

    @property
    def known(self) -> bool:
        return self.pk is not None


@dataclass
class Pick:
    row: int
    score: float
    source: str
    reason: Reason | None = None  # None: "because you … <title>", filled once titles are read
    because_row: int = -1
    because_kind: str = ""


@dataclass
class SlotContext:
    catalog: CatalogSnapshot
    shopper: ShopperInfo
    profile: Profile
    personal: ServingModel | None
    popular: ServingModel | None
    purchases: dict[int, tuple[int, datetime]]  # catalog row → (times bought, last time)
    now: datetime
    k: int
    # The content index; None: the current champion's (looked up on first use).
    content: ServingModel | None = None
    # A past clock's cut-off (``clock.replay_cutoff``): reads stop before it. None: live.
    before: datetime | None = None
    # The models served (a replay's scratch models); None: the champions.
    models: dict[str, ServingModel] | None = None
    _picked: set[int] = field(default_factory=set)

    def content_index(self) -> ServingModel | None:
        if self.content is None:
            self.content = content_model(champion_models() if self.models is None else self.models)
        return self.content


Stage = Callable[[SlotContext, np.ndarray, int], Iterator[Pick]]


def rank_slot(ctx: SlotContext, slot: str) -> list[Pick]:
    """The slot's top ``k`` picks, diversified, reasons set where known without titles."""
    mask, stages, reason_for = _plan(ctx, slot)
    pool_size = ctx.k * POOL_FACTOR
    pool: list[Pick] = []
    for stage in stages:
        if len(pool) >= pool_size or not mask.any():
            break
        for pick in stage(ctx, mask, pool_size - len(pool)):
            if mask[pick.row] and pick.row not in ctx._picked:
                ctx._picked.add(pick.row)
                pool.append(pick)
                if len(pool) >= pool_size:
                    break
    rows = np.fromiter((p.row for p in pool), dtype=np.int64, count=len(pool))
    chosen = [pool[i] for i in varied(ctx.catalog, rows=rows, k=ctx.k)]
    content = ctx.content
    if content is not None and content is not ctx.personal:
        # New arrivals found through the shopper's items name that item ("because you viewed").
        unexplained = [p for p in chosen if p.reason is None and p.source == content.source]
        _explain(ctx, unexplained, served=content, fallback=None)
    if reason_for is not None:
        for pick in chosen:
            if pick.because_row < 0:  # a pick tied to the shopper's own item keeps that reason
                pick.reason = reason_for(pick.row)
    if ctx.personal is not None:
        unexplained = [p for p in chosen if p.reason is None and p.source == ctx.personal.source]
        _explain(ctx, unexplained, served=ctx.personal, fallback=reasons.personal())
    for pick in chosen:
        if pick.reason is None and pick.because_row < 0:
            pick.reason = reasons.personal()
    return chosen


def empty_reason(ctx: SlotContext, slot: str, picks: list[Pick]) -> Reason | None:
    """Why the slot has nothing to show, for slots that may be empty by design; else None."""
    if slot != "buy_again" or picks:
        return None
    return reasons.nothing_to_buy_again() if ctx.purchases else reasons.no_purchases()


def _plan(
    ctx: SlotContext, slot: str
) -> tuple[np.ndarray, list[Stage], Callable[[int], Reason] | None]:
    catalog = ctx.catalog
    purchased = np.fromiter(ctx.purchases, dtype=np.int64, count=len(ctx.purchases))
    base = eligible(catalog, excluded_rows=purchased)
    cold = [_country, _segment, _interests, _popular, _newest]
    if slot == "for_you":
        return (
            eligible(catalog, excluded_rows=np.r_[purchased, ctx.profile.rows]),
            [
                _personal,
                *cold,
            ],
            None,
        )
    if slot == "trending":
        return base, cold, None
    if slot == "promotions":
        best = _best_promotion(catalog.active_promotions(now=ctx.now))
        mask = base.copy()
        mask[:] = False
        mask[list(best)] = True
        mask &= base
        return mask, [_personal, *cold], lambda row: _promotion_reason(best[row])
    if slot == "points":
        balance = ctx.shopper.points_balance
        mask = base & (catalog.points_price > 0) & (catalog.points_price <= balance)
        return (
            mask,
            [_personal, *cold],
            lambda row: reasons.points(points_price=int(catalog.points_price[row])),
        )
    if slot == "new_arrivals":
        fresh = base & _fresh(ctx)
        # New arrivals are products added inside the window, whatever their rank: they have no
        # behaviour a model could use, so shoppers with history get them by content similarity
        # to their recent items, everyone else newest first. The "newest N" regardless of age
        # served 200-day-old products as "new"; older products now only fill a list the window
        # cannot, dated rather than called new.
        return (
            base,
            [_within(fresh, _new_for_you), _within(fresh, _newest), _older_arrivals],
            lambda row: _arrival_reason(ctx, row),
        )
    if slot == "buy_again":
        # Repeat purchases only: trending items under "buy again" told a shopper who never
        # bought anything that they had (empty_reason says why the list is empty instead).
        mask = eligible(catalog, excluded_rows=np.empty(0, dtype=np.int64))
        return mask, [_bought_before], None
    raise ValueError(f"unknown slot {slot!r}")


# -- stages ---------------------------------------------------------------------------------------
def _personal(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """The champion model scored from the shopper's latest events (fold-in / kNN, no retrain),
    with their search queries scored by the content index when they searched."""
    served = ctx.personal
    content = ctx.content_index() if ctx.profile.queries else None
    if served is not None and not served.personalized:
        # Popularity or trending beat every personalised model on the holdout
        # (``serving_choice``): their ranking, after what the shopper's searches find.
        if content is not None:
            yield from _blended(ctx, mask, n, item_model=None, content=content)
        if ctx.profile:
            rows, scores, source = popular_rows(catalog=ctx.catalog, model=served)
            yield from _ranked(rows, scores, mask, source, reasons.best_sellers(served.algorithm))
        return
    if content is not None:
        yield from _blended(ctx, mask, n, item_model=served, content=content)
        return
    if served is None or not ctx.profile.rows.size:
        return
    item_rows, row_items = served.catalog_maps(ctx.catalog)
    items = row_items[ctx.profile.rows]
    known = items >= 0
    if not known.any():
        return
    allowed = item_rows >= 0
    allowed[allowed] = mask[item_rows[allowed]]
    if not allowed.any():
        return
    # The complement as ``exclude``, not the allowed items as ``candidates``: the same top n,
    # but candidates go through np.unique (~0.75 ms for 3,300 items, a quarter of a request).
    ids, scores = served.model.recommend_from_items(
        items[known], ctx.profile.weights[known], n=n, exclude=np.flatnonzero(~allowed)
    )
    for item, score in zip(ids.tolist(), scores.tolist(), strict=True):
        if item >= 0 and score > 0:
            yield Pick(row=int(item_rows[item]), score=float(score), source=served.source)


def _new_for_you(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """New arrivals close in content to the shopper's recent items and searches."""
    content = ctx.content_index() if ctx.profile else None
    if content is not None:
        yield from _blended(ctx, mask, n, item_model=content, content=content, unindexed=True)


def _blended(
    ctx: SlotContext,
    mask: np.ndarray,
    n: int,
    *,
    item_model: ServingModel | None,
    content: ServingModel,
    unindexed: bool = False,
) -> Iterator[Pick]:
    """Top ``n`` eligible rows by item-model scores of the shopper's products plus content
    scores of their queries, each source max-scaled and weighted by its events' weights.

    A pick led by a query says so ("because you searched for …"); one led by products is
    explained later like any personal pick (its reason is left None). ``unindexed``: products
    added since the content index was trained score by the shopper's share in their category.
    """
    catalog, profile = ctx.catalog, ctx.profile
    total = np.zeros(len(catalog), dtype=np.float32)
    weight_sum = 0.0
    if item_model is not None and profile.rows.size:
        item_rows, row_items = item_model.catalog_maps(catalog)
        items = row_items[profile.rows]
        known = items >= 0
        if known.any():
            weight = float(profile.weights[known].sum())
            scores = item_model.model.score_items(items[known], profile.weights[known])
            part = _scaled_rows(scores, item_rows, mask)
            if unindexed:
                part = _category_affinity(ctx, mask & (row_items < 0), content, part)
            if part is not None:
                total += weight * part
                weight_sum += weight
    from_items = total.copy()
    search = np.zeros_like(total)
    best_query = np.full(len(catalog), -1, dtype=np.int64)
    best = np.zeros_like(total)
    content_rows, _ = content.catalog_maps(catalog)
    for number, (query, weight) in enumerate(profile.queries):
        part = _scaled_rows(content.search.scores(query), content_rows, mask)
        if part is None:
            continue
        part *= weight
        better = part > best
        best[better], best_query[better] = part[better], number
        search += part
        weight_sum += weight
    total += search
    if weight_sum <= 0:
        return
    total /= weight_sum
    # Ineligible rows at -inf rather than eligible ones as ``candidates`` (np.unique: ~0.3 ms).
    ranked = np.where(mask & (total > 0), total, -np.inf).astype(np.float32)
    ids, scores = top_k_row(ranked, n)
    for row, score in zip(ids.tolist(), scores.tolist(), strict=True):
        if row < 0 or score <= 0:
            break
        if search[row] > from_items[row]:
            query = profile.queries[int(best_query[row])][0]
            yield Pick(row, float(score), content.source, reasons.because_searched(query=query))
        else:  # explained after the slot's choice, one batched product for all picks
            yield Pick(row, float(score), (item_model or content).source)


def _category_affinity(
    ctx: SlotContext, rows: np.ndarray, content: ServingModel, part: np.ndarray | None
) -> np.ndarray | None:
    """``part`` with the ``rows`` mask filled by the shopper's weight share in each row's
    category, scaled like the index's category block (its share of a full cosine)."""
    catalog, profile = ctx.catalog, ctx.profile
    if not rows.any():
        return part
    categories = catalog.category[profile.rows]
    known = categories >= 0
    if not known.any():
        return part
    labels, position = np.unique(categories[known], return_inverse=True)
    share = np.bincount(position, weights=profile.weights[known]) / profile.weights.sum()
    # Weighted like the index's blocks: a same-category product without shared words.
    text_weight = float(getattr(content.model, "text_weight", 1.0))
    category_weight = float(getattr(content.model, "category_weight", 0.5))
    scale = category_weight / (text_weight + category_weight)
    at = np.searchsorted(labels, catalog.category[rows])
    at[at == labels.size] = 0
    hit = labels[at] == catalog.category[rows]
    filled = np.zeros(len(catalog), dtype=np.float32) if part is None else part
    targets = np.flatnonzero(rows)
    filled[targets[hit]] = scale * share[at[hit]]
    return filled


def _scaled_rows(scores: np.ndarray, item_rows: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Model ``scores`` moved to catalog rows, masked, negative cut, divided by their maximum;
    None when nothing eligible scores above zero."""
    known = item_rows >= 0
    rows = np.zeros(mask.size, dtype=np.float32)
    rows[item_rows[known]] = np.asarray(scores, dtype=np.float32)[known]
    rows[~mask] = 0
    top = float(rows.max()) if rows.size else 0.0
    if top <= 0:
        return None
    np.maximum(rows, 0, out=rows)
    rows /= top
    return rows


def _country(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    if ctx.shopper.country:
        rows, scores = trending_rows(
            catalog=ctx.catalog, country=ctx.shopper.country, before=ctx.before
        )
        reason = reasons.trending_in(country=country_name(ctx.shopper.country))
        yield from _ranked(rows, scores, mask, "trending:country", reason)


def _segment(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    if ctx.shopper.segment:
        rows, scores = trending_rows(
            catalog=ctx.catalog, segment=ctx.shopper.segment, before=ctx.before
        )
        reason = reasons.popular_in_segment(segment=ctx.shopper.segment)
        yield from _ranked(rows, scores, mask, "trending:segment", reason)


def _interests(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    if not ctx.shopper.interests:
        return
    rows, scores, source = popular_rows(catalog=ctx.catalog, model=ctx.popular, before=ctx.before)
    followed = np.zeros(len(ctx.catalog), dtype=bool)
    followed[ctx.catalog.category_rows(set(ctx.shopper.interests))] = True
    keep = followed[rows]
    for row, score in zip(rows[keep].tolist(), scores[keep].tolist(), strict=True):
        name = _root_interest(ctx, row)
        yield Pick(row, score, f"interests:{source}", reasons.popular_in_interest(category=name))
    # Followed categories with no history yet: their newest products.
    yield from _newest(ctx, mask & followed, n)


def _popular(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    rows, scores, source = popular_rows(catalog=ctx.catalog, model=ctx.popular, before=ctx.before)
    yield from _ranked(rows, scores, mask, source, reasons.popular())


def _newest(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    rows = np.flatnonzero(mask)
    rows = rows[np.argsort(-ctx.catalog.created_at[rows], kind="stable")][: n + len(ctx._picked)]
    for row in rows.tolist():
        yield Pick(row, 0.0, "fallback:newest", _arrival_reason(ctx, row))


def _older_arrivals(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """The newest products beyond the new-arrivals window, only while fewer than ``k`` new ones
    were found (so the slot is never empty, and never pads a full list with old products)."""
    if len(ctx._picked) < ctx.k:
        yield from _newest(ctx, mask & ~_fresh(ctx), ctx.k - len(ctx._picked))


def _within(fresh: np.ndarray, stage: Stage) -> Stage:
    """``stage`` restricted to the ``fresh`` rows."""
    return lambda ctx, mask, n: stage(ctx, mask & fresh, n)


def _fresh(ctx: SlotContext) -> np.ndarray:
    """Bool mask: created inside the new-arrivals window before the request's ``now`` (the clock
    the demo and tests pin); a product created after a live ``now`` counts as new too, after a
    past clock's not (it did not exist yet)."""
    fresh = ctx.catalog.created_at >= _window_start(ctx)
    if ctx.before is not None:
        fresh &= ctx.catalog.created_at < ctx.before.timestamp()
    return fresh


def _window_start(ctx: SlotContext) -> float:
    """Unix seconds from which a product counts as a new arrival."""
    return ctx.now.timestamp() - settings.SHELFWISE_NEW_ARRIVALS_DAYS * 86400.0


def _arrival_reason(ctx: SlotContext, row: int) -> Reason:
    """Inside the window "new in <category>"; beyond it the date it was added, never "new"."""
    catalog = ctx.catalog
    category = catalog.category_names.get(int(catalog.category[row]))
    created = float(catalog.created_at[row])
    if created >= _window_start(ctx):
        return reasons.new_arrival(category=category)
    return reasons.added_on(added=datetime.fromtimestamp(created, tz=UTC), category=category)


def _bought_before(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """Repeat purchases by TIFU-KNN's personal frequency (``core.repeat``): every purchase
    counts 2^(-age / half-life), SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS; ties by more purchases."""
    purchases = ctx.purchases
    frequency_at = getattr(purchases, "frequency_at", None)
    if frequency_at is None:  # a plain mapping (the dashboard's empty history): counts only
        rows = np.fromiter(purchases, dtype=np.int64, count=len(purchases))
        counts = np.array([purchases[row][0] for row in rows.tolist()], dtype=np.float64)
        scores = counts
    else:
        rows, counts, scores = purchases.rows, purchases.times, frequency_at(ctx.now)
    for at in np.lexsort((rows, -counts, -scores)).tolist():
        row = int(rows[at])
        times, last = purchases[row]
        reason = reasons.buy_again(times=times, last=last)
        yield Pick(row, float(scores[at]), "purchase_history", reason)


def _ranked(
    rows: np.ndarray, scores: np.ndarray, mask: np.ndarray, source: str, reason: Reason
) -> Iterator[Pick]:
    keep = mask[rows] if rows.size else np.empty(0, dtype=bool)
    for row, score in zip(rows[keep].tolist(), scores[keep].tolist(), strict=True):
        yield Pick(row, float(score), source, reason)


# -- reasons --------------------------------------------------------------------------------------
def _explain(
    ctx: SlotContext, picks: list[Pick], *, served: ServingModel, fallback: Reason | None
) -> None:
    """Name the shopper's product that contributed most to each pick of ``served``, when it
    carries at least ``SHELFWISE_REASON_MIN_SHARE`` of the pick's score; other picks get
    ``fallback`` (None: left for the slot's own reason). One thriller among twenty items that
    each add a little to a wok's score is not why the wok is there."""
    if not picks:
        return
    item_rows, row_items = served.catalog_maps(ctx.catalog)
    items = row_items[ctx.profile.rows]
    known = items >= 0
    items, weights = items[known], ctx.profile.weights[known]
    targets = row_items[np.array([p.row for p in picks], dtype=np.int64)]
    best, shares = _attribution(served.model, items, weights, np.maximum(targets, 0))
    best[targets < 0] = -1  # products the model does not know: nothing to name
    minimum = settings.SHELFWISE_REASON_MIN_SHARE
    for pick, index, share in zip(picks, best.tolist(), shares.tolist(), strict=True):
        if index >= 0 and share >= minimum:
            pick.because_row = int(item_rows[items[index]])
            pick.because_kind = ctx.profile.kinds.get(pick.because_row, "view")
        else:
            pick.reason = fallback


def _attribution(
    model: Recommender, items: np.ndarray, weights: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each pick (``targets``): the index in ``items`` contributing most to its score (-1:
    none contributes) and that contribution's share of all of them (as ``explain`` defines it).

    Contributions are weight × similarity of each shopper item to each pick, in one call: the
    attribution of ``Recommender.explain`` for item-based scores, batched (calling ``explain``
    per pick cost about 1 ms each for ALS, a k×k factorisation per call, and a third of the
    request's Python time for EASE). For ALS the cosine of item factors stands in for the exact
    fold-in decomposition; it names the same item in the common case and only chooses the
    sentence. Models without an item similarity (a blend) explain pick by pick.
    """
    best = np.full(targets.size, -1, dtype=np.int64)
    shares = np.zeros(targets.size, dtype=np.float64)
    if not items.size or not targets.size:
        return best, shares
    try:
        contributions = weights[:, None] * model.item_similarities(items, targets)
    except NotImplementedError:
        for column, target in enumerate(targets.tolist()):
            item, share = model.explain(target, items, weights)
            if item >= 0:
                best[column], shares[column] = int(np.flatnonzero(items == item)[0]), share
        return best, shares
    top = np.argmax(contributions, axis=0)
    strongest = contributions[top, np.arange(targets.size)]
    total = np.abs(contributions).sum(axis=0)
    named = (strongest > 0) & (total > 0)
    best[named] = top[named]
    shares[named] = strongest[named] / total[named]
    return best, shares


def _best_promotion(promotions: list[PromotionInfo]) -> dict[int, PromotionInfo]:
    """Catalog row → the promotion that wins for it (they come best first)."""
    best: dict[int, PromotionInfo] = {}
    for promotion in promotions:
        for row in promotion.rows.tolist():
            best.setdefault(row, promotion)
    return best


def _promotion_reason(promotion: PromotionInfo) -> Reason:
    return reasons.promotion(discount_percent=promotion.discount_percent, ends_at=promotion.ends_at)


def _root_interest(ctx: SlotContext, row: int) -> str:
    """The followed category a product sits in (itself or an ancestor), by name."""
    category = int(ctx.catalog.category[row])
    seen = 0
    while category is not None and category not in ctx.shopper.interests and seen < 32:
        category = ctx.catalog.category_parent.get(category)
        seen += 1
    return ctx.catalog.category_names.get(category, "a category you follow")
