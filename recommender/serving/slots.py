"""How a slot ranks: its declaration (``Slot``, registered in ``registry``) gives a candidate
mask over the catalog and a chain of ranking stages (``stages``).

Every slot walks its stages in order (for "for you": personal model → trending in the shopper's
country → their segment → their declared interests → global popularity → newest products),
taking eligible rows not yet picked until it holds a pool of ``3 k``; diversity then picks
``k``. So a slot is never empty while an eligible product exists, and each item says which
stage (``source``) put it there. All arrays are indexed by catalog row (see ``catalog_state``).
The models arrive in the ``SlotContext``, loaded once by the caller: ranking fetches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings

from recommender.core import Recommender
from recommender.serving import reasons
from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.model_cache import ServingModel
from recommender.serving.purchases import PurchaseHistory
from recommender.serving.realtime import Profile
from recommender.serving.reasons import Reason
from recommender.serving.repeat_model import RepeatServing
from recommender.serving.rules import diversify

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


@dataclass(slots=True)
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
    content: ServingModel | None  # the content index (search, new arrivals)
    purchases: PurchaseHistory
    now: datetime
    k: int
    # A past clock's cut-off (``clock.replay_cutoff``): reads stop before it. None: live.
    before: datetime | None = None
    # The buy-again model (``repeat_model``); None: buy again ranks by frequency alone.
    repeat: RepeatServing | None = None
    picked: set[int] = field(default_factory=set)  # rows already in the pool, by any stage
    # Rows the caller excludes on top of the slot's own (a placement's exclusions).
    excluded_rows: np.ndarray | None = None


Stage = Callable[[SlotContext, np.ndarray, int], Iterator[Pick]]


@dataclass(frozen=True)
class Slot:
    """One slot as declared in ``registry``: what the API serves, the dashboard shows and the
    demo check asks for. ``rank_slot`` reads nothing else."""

    name: str
    title: str  # as the dashboard names it
    mask: Callable[[SlotContext], np.ndarray]  # the candidates: bool over catalog rows
    stages: tuple[Stage, ...]  # walked in order until the pool is full
    # Given the request, the slot's own reason for a row (e.g. its promotion), over the stage's;
    # None: the stage's.
    reason_for: Callable[[SlotContext], Callable[[int], Reason]] | None = None
    # What the slot is computed for (``registry.SERVED_CONTEXTS``): a shopper.
    context: frozenset[str] = frozenset({"shopper"})
    # Empty by design for some shoppers (no points, no purchases), e.g. a brand-new one.
    may_be_empty: bool = False
    # Why it is empty, told to the client when it is; None: no reason given.
    empty_reason: Callable[[SlotContext], Reason] | None = None
    on_shopper_page: bool = True  # the dashboard's shopper page shows it
    # What its cached response depends on beyond the shopper, the catalog and the models.
    cache_key: Callable[[CatalogSnapshot, datetime], tuple] = lambda _catalog, _now: ()


def rank_slot(ctx: SlotContext, slot: Slot) -> list[Pick]:
    """The slot's top ``k`` picks, diversified, reasons set where known without titles."""
    mask = slot.mask(ctx)  # a fresh array per request
    if ctx.excluded_rows is not None and ctx.excluded_rows.size:
        mask[ctx.excluded_rows[ctx.excluded_rows >= 0]] = False
    pool_size = ctx.k * POOL_FACTOR
    pool: list[Pick] = []
    for stage in slot.stages:
        if len(pool) >= pool_size or not mask.any():
            break
        for pick in stage(ctx, mask, pool_size - len(pool)):
            if mask[pick.row] and pick.row not in ctx.picked:
                ctx.picked.add(pick.row)
                pool.append(pick)
                if len(pool) >= pool_size:
                    break
    rows = np.fromiter((p.row for p in pool), dtype=np.int64, count=len(pool))
    chosen = [pool[i] for i in diversify(ctx.catalog, rows=rows, k=ctx.k)]
    content = ctx.content
    if content is not None and content is not ctx.personal:
        # New arrivals found through the shopper's items name that item ("because you viewed").
        source = content.source
        unexplained = [p for p in chosen if p.reason is None and p.source == source]
        _explain(ctx, unexplained, served=content, fallback=None)
    if slot.reason_for is not None:
        reason_for = slot.reason_for(ctx)
        for pick in chosen:
            if pick.because_row < 0:  # a pick tied to the shopper's own item keeps that reason
                pick.reason = reason_for(pick.row)
    if ctx.personal is not None:
        source = ctx.personal.source
        unexplained = [p for p in chosen if p.reason is None and p.source == source]
        _explain(ctx, unexplained, served=ctx.personal, fallback=reasons.personal())
    for pick in chosen:
        if pick.reason is None and pick.because_row < 0:
            pick.reason = reasons.personal()
    return chosen


def empty_reason(ctx: SlotContext, slot: Slot, picks: list[Pick]) -> Reason | None:
    """Why the slot has nothing to show, for slots that say so; else None."""
    if picks or slot.empty_reason is None:
        return None
    return slot.empty_reason(ctx)


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
