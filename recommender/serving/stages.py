"""What slots are made of: candidate masks, ranking stages and the slots' own reasons.

A stage yields ``Pick``s best first from the rows of ``mask`` (``n`` wanted); ``rank_slot``
keeps the eligible ones not yet picked. Search queries count through the content index: each
of the shopper's recent queries scores the catalog by text cosine, and that score joins the
behavioural model's in catalog-row space (so products without events can be found), each
source weighted by its events' weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial

import numpy as np
import scipy.sparse as sp
from django.conf import settings

from behavior.countries import country_name
from recommender.core.ranking import top_k_row
from recommender.core.rerank import discounted
from recommender.serving import reasons
from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.model_cache import ServingModel
from recommender.serving.reasons import Reason
from recommender.serving.rules import eligible
from recommender.serving.slots import Pick, SlotContext, Stage
from recommender.serving.trending import popular_rows, trending_rows


# -- candidate masks ------------------------------------------------------------------------------
def unbought(ctx: SlotContext) -> np.ndarray:
    """Available products the shopper has not bought."""
    return eligible(ctx.catalog, excluded_rows=ctx.purchases.rows)


def unseen(ctx: SlotContext) -> np.ndarray:
    """Available products the shopper has neither bought nor touched in their latest
    SHELFWISE_RECENT_EVENTS events."""
    return eligible(ctx.catalog, excluded_rows=np.r_[ctx.purchases.rows, ctx.profile.touched])


def promoted(ctx: SlotContext) -> np.ndarray:
    """Unbought products an active promotion covers."""
    mask = np.zeros(len(ctx.catalog), dtype=bool)
    for promotion in ctx.catalog.active_promotions(now=ctx.now):
        mask[promotion.rows] = True
    return mask & unbought(ctx)


def redeemable(ctx: SlotContext) -> np.ndarray:
    """Unbought products the shopper's points balance pays for."""
    price = ctx.catalog.points_price
    return unbought(ctx) & (price > 0) & (price <= ctx.shopper.points_balance)


def available(ctx: SlotContext) -> np.ndarray:
    """Every available product, bought or not."""
    return eligible(ctx.catalog, excluded_rows=np.empty(0, dtype=np.int64))


# -- the slots' own reasons and keys --------------------------------------------------------------
def promotion_reasons(ctx: SlotContext) -> Callable[[int], Reason]:
    """A promoted row's reason: the best active promotion covering it (they come best first)."""
    active = ctx.catalog.active_promotions(now=ctx.now)

    def reason(row: int) -> Reason:
        best = next(p for p in active if row in p.rows)
        return reasons.promotion(discount_percent=best.discount_percent, ends_at=best.ends_at)

    return reason


def points_reasons(ctx: SlotContext) -> Callable[[int], Reason]:
    price = ctx.catalog.points_price
    return lambda row: reasons.points(points_price=int(price[row]))


def arrival_reasons(ctx: SlotContext) -> Callable[[int], Reason]:
    return partial(arrival_reason, ctx)


def active_promotion_ids(catalog: CatalogSnapshot, now: datetime) -> tuple[int, ...]:
    return tuple(p.id for p in catalog.active_promotions(now=now))


def why_nothing_to_buy_again(ctx: SlotContext) -> Reason:
    return reasons.nothing_to_buy_again() if ctx.purchases else reasons.no_purchases()


# -- stages ---------------------------------------------------------------------------------------
def personal(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """The champion model scored from the shopper's latest events (fold-in / kNN, no retrain),
    with their search queries scored by the content index when they searched."""
    served = ctx.personal
    content = ctx.content if ctx.profile.queries else None
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
    exclude, discount = np.flatnonzero(~allowed), served.discount()
    if discount is None:
        ids, scores = served.model.recommend_from_items(
            items[known], ctx.profile.weights[known], n=n, exclude=exclude
        )
    else:  # the shop's tuned popularity penalty: the long tail gets its turn
        scores = served.model.score_items(items[known], ctx.profile.weights[known])
        ids, scores = top_k_row(discounted(scores, discount), n, exclude=exclude)
    source, rows = served.source, item_rows[np.maximum(ids, 0)].tolist()
    for item, row, score in zip(ids.tolist(), rows, scores.tolist(), strict=True):
        if item >= 0 and score > 0:
            yield Pick(row=row, score=score, source=source)


def new_for_you(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """New arrivals close in content to the shopper's recent items and searches."""
    content = ctx.content if ctx.profile else None
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
            if (discount := item_model.discount()) is not None:
                scores = discounted(scores, discount)
            if unindexed:
                part = _scaled_rows(scores, item_rows, mask)
                part = _category_affinity(ctx, mask & (row_items < 0), content, part)
                if part is not None:
                    total += weight * part
                    weight_sum += weight
            else:  # only the rows scoring above zero: the 60k-row move cost ~0.3 ms
                rows, part = _scaled_hits(scores, item_rows, mask)
                if rows.size:
                    total[rows] = weight * part
                    weight_sum += weight
    from_items = total.copy()
    search = np.zeros_like(total)
    best_query = np.full(len(catalog), -1, dtype=np.int64)
    best = np.zeros_like(total)
    content_rows, _ = content.catalog_maps(catalog)
    for number, (query, weight) in enumerate(profile.queries):
        # Only the products holding a query term score: each query moves its hits alone, not
        # the whole catalogue (at 60k products a shopper's five searches cost 2 ms that way).
        rows, part = _scaled_hits(content.search.scores(query), content_rows, mask)
        if rows.size == 0:
            continue
        part *= weight
        better = part > best[rows]
        best[rows[better]], best_query[rows[better]] = part[better], number
        search[rows] += part  # one row per product: no repeated index
        weight_sum += weight
    total += search
    if weight_sum <= 0:
        return
    total /= weight_sum
    # Ranked among the rows above zero (ascending, so ties still go to the lower row): the
    # top n of the whole row with the others at -inf, from a partition of thousands, not 60k.
    candidates = np.flatnonzero(mask & (total > 0))
    top, scores = top_k_row(total[candidates], n)
    ids, scores = candidates[top[top >= 0]], scores[top >= 0]
    searched, found = content.source, (item_model or content).source
    for row, score in zip(ids.tolist(), scores.tolist(), strict=True):
        if row < 0 or score <= 0:
            break
        if search[row] > from_items[row]:
            query = profile.queries[int(best_query[row])][0]
            yield Pick(row, score, searched, reasons.because_searched(query=query))
        else:  # explained after the slot's choice, one batched product for all picks
            yield Pick(row, score, found)


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


def _scaled_hits(
    scores: np.ndarray, item_rows: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_scaled_rows`` for sparse ``scores``: (the catalog rows scoring above zero and eligible
    in ``mask``, their scores divided by the largest), empty when none."""
    hits = np.flatnonzero(scores > 0)
    rows = item_rows[hits]
    known = rows >= 0
    hits, rows = hits[known], rows[known]
    eligible = mask[rows]
    hits, rows = hits[eligible], rows[eligible]
    if rows.size == 0:
        return rows, np.empty(0, dtype=np.float32)
    part = np.asarray(scores[hits], dtype=np.float32)
    return rows, part / part.max()


def country(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    if ctx.shopper.country:
        rows, scores = trending_rows(
            catalog=ctx.catalog, country=ctx.shopper.country, before=ctx.before
        )
        reason = reasons.trending_in(country=country_name(ctx.shopper.country))
        yield from _ranked(rows, scores, mask, "trending:country", reason)


def segment(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    if ctx.shopper.segment:
        rows, scores = trending_rows(
            catalog=ctx.catalog, segment=ctx.shopper.segment, before=ctx.before
        )
        reason = reasons.popular_in_segment(segment=ctx.shopper.segment)
        yield from _ranked(rows, scores, mask, "trending:segment", reason)


def interests(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
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
    yield from newest(ctx, mask & followed, n)


def popular(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    rows, scores, source = popular_rows(catalog=ctx.catalog, model=ctx.popular, before=ctx.before)
    yield from _ranked(rows, scores, mask, source, reasons.popular())


def newest(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    rows = np.flatnonzero(mask)
    rows = rows[np.argsort(-ctx.catalog.created_at[rows], kind="stable")][: n + len(ctx.picked)]
    for row in rows.tolist():
        yield Pick(row, 0.0, "fallback:newest", arrival_reason(ctx, row))


def older_arrivals(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """The newest products beyond the new-arrivals window, only while fewer than ``k`` new ones
    were found (so the slot is never empty, and never pads a full list with old products)."""
    if len(ctx.picked) < ctx.k:
        yield from newest(ctx, mask & ~_fresh(ctx), ctx.k - len(ctx.picked))


def fresh_only(stage: Stage) -> Stage:
    """``stage`` restricted to products inside the new-arrivals window (``_fresh``)."""
    return lambda ctx, mask, n: stage(ctx, mask & _fresh(ctx), n)


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


def arrival_reason(ctx: SlotContext, row: int) -> Reason:
    """Inside the window "new in <category>"; beyond it the date it was added, never "new"."""
    catalog = ctx.catalog
    category = catalog.category_names.get(int(catalog.category[row]))
    created = float(catalog.created_at[row])
    if created >= _window_start(ctx):
        return reasons.new_arrival(category=category)
    return reasons.added_on(added=datetime.fromtimestamp(created, tz=UTC), category=category)


def bought_before(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """The shop's buy-again model when one serves (``repeat_picks``), else repeat purchases by
    TIFU-KNN's personal frequency (``core.repeat``): every purchase counts 2^(-age /
    half-life), SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS; ties by more purchases."""
    if ctx.repeat is not None and ctx.purchases:
        yield from repeat_picks(ctx, mask, n)
        return
    purchases = ctx.purchases
    rows, counts, scores = purchases.rows, purchases.times, purchases.frequency_at(ctx.now)
    for at in np.lexsort((rows, -counts, -scores)).tolist():
        row = int(rows[at])
        times, last = purchases[row]
        reason = reasons.buy_again(times=times, last=last)
        yield Pick(row, float(scores[at]), "purchase_history", reason)


def repeat_picks(ctx: SlotContext, mask: np.ndarray, n: int) -> Iterator[Pick]:
    """TIFU-KNN (``core.repeat.RepeatModel``, tuned per shop): the shopper's decayed purchases
    at the model's half-life, blended with the mean history of the most similar shoppers and
    a little popularity. Own purchases say when they were bought; the others say why."""
    served, purchases, catalog = ctx.repeat, ctx.purchases, ctx.catalog
    assert served is not None
    model = served.model
    frequency = purchases.frequency_at(ctx.now)
    item_rows = served.item_rows(catalog)
    known_items = item_rows >= 0
    row_items = np.full(len(catalog), -1, dtype=np.int64)
    row_items[item_rows[known_items]] = np.flatnonzero(known_items)
    items = row_items[purchases.rows]
    known = items >= 0
    query = sp.csr_matrix(
        (frequency[known], (np.zeros(int(known.sum()), dtype=np.int64), items[known])),
        shape=(1, len(served.items)),
    )
    user = served.users.to_index(np.array([ctx.shopper.pk or -1]))
    item_scores = model.scores(query, users=user)[0]
    scores = np.zeros(len(catalog), dtype=np.float32)
    scores[item_rows[known_items]] = item_scores[known_items]
    popular_part = np.zeros(len(catalog), dtype=np.float32)
    popular_part[item_rows[known_items]] = model.popularity_weight * model.popularity[known_items]
    # Purchases of products the model never saw keep their own share.
    total = float(frequency.sum()) or 1.0
    unknown = purchases.rows[~known]
    scores[unknown] = model.alpha * frequency[~known] / total
    bought = np.zeros(len(catalog), dtype=bool)
    bought[purchases.rows] = True
    ranked = np.where(mask & (scores > 0), scores, -np.inf).astype(np.float32)
    rows, values = top_k_row(ranked, n + len(ctx.picked))
    for row, score in zip(rows.tolist(), values.tolist(), strict=True):
        if row < 0 or not score > 0:
            break
        # The shopper's own purchases carry the purchase history's source, as the frequency
        # ranking does ("Bought before"); the model's suggestions name the model.
        source = served.source
        if bought[row]:
            times, last = purchases[row]
            reason, source = reasons.buy_again(times=times, last=last), "purchase_history"
        elif score > popular_part[row] * 1.000001:
            reason = reasons.bought_again_by_shoppers_like_you()
        else:
            reason = reasons.popular()
        yield Pick(row, float(score), source, reason)


def _ranked(
    rows: np.ndarray, scores: np.ndarray, mask: np.ndarray, source: str, reason: Reason
) -> Iterator[Pick]:
    keep = mask[rows] if rows.size else np.empty(0, dtype=bool)
    for row, score in zip(rows[keep].tolist(), scores[keep].tolist(), strict=True):
        yield Pick(row, float(score), source, reason)


def _root_interest(ctx: SlotContext, row: int) -> str:
    """The followed category a product sits in (itself or an ancestor), by name."""
    category = int(ctx.catalog.category[row])
    seen = 0
    while category is not None and category not in ctx.shopper.interests and seen < 32:
        category = ctx.catalog.category_parent.get(category)
        seen += 1
    return ctx.catalog.category_names.get(category, "a category you follow")
