"""Product-page lists: similar items and items bought together.

Similar: the item-kNN champion's neighbours (behaviour) blended with the content index's
(description, category, brand, price), weighted toward content for products with little
history: behaviour weighs ``n / (n + SHELFWISE_SIMILAR_CONTENT_PRIOR)`` for a product ``n``
distinct shoppers touched in training. A product added since training has no content vector
yet: its title and description are scored as a search query, with its category counted too.
Then products of the same category ranked by popularity, then global popularity, so the list
is never empty. Bought together: products purchased in the same orders first, then products in
the same order-less sessions (browsed together, each reason saying which), counted per product
with index-backed queries (``behavior.basket_selectors``) and cached for an hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings

from behavior.basket_selectors import co_occurrence_counts
from catalog.models import Product
from recommender.serving import reasons
from recommender.serving.cache import (
    cached_response,
    response_key,
    store_entries,
    store_response,
)
from recommender.serving.catalog_state import CatalogSnapshot, catalog_at, current_catalog
from recommender.serving.clock import clock_part, replay_cutoff
from recommender.serving.model_cache import (
    ServingModel,
    champion_models,
    content_model,
    models_key,
    neighbour_model,
    popularity_model,
    version_info,
)
from recommender.serving.results import Recommendations, render
from recommender.serving.rules import checked_k, eligible
from recommender.serving.slots import Pick
from recommender.serving.trending import popular_rows

POOL_FACTOR = 3
# Basket counts move slowly with new orders: cached apart from responses. Precomputing them at
# training time would remove even the first request's cost.
CO_OCCURRENCE_SECONDS = 3600
# Text cosine from which a content neighbour's reason says "similar description".
SIMILAR_TEXT_COSINE = 0.1


class ProductNotFound(LookupError):
    """No product has this sku."""


def similar_products(
    *, sku: str, k: int, now: datetime, models: dict[str, ServingModel] | None = None
) -> Recommendations:
    """Up to ``k`` eligible products like ``sku``, behaviour first, never the product itself;
    ``models`` (a replay's scratch models) replace the champions and bypass the cache."""
    return _product_list(_look_up(sku, models), k=checked_k(k), now=now, kind="similar")


def bought_together(
    *, sku: str, k: int, now: datetime, models: dict[str, ServingModel] | None = None
) -> Recommendations:
    """Up to ``k`` eligible products bought or browsed with ``sku`` in the same order/session,
    completed by similar products when baskets are few; ``models`` as for similar_products."""
    return _product_list(_look_up(sku, models), k=checked_k(k), now=now, kind="bought_together")


def product_page_lists(*, sku: str, k: int, now: datetime) -> tuple[Recommendations, ...]:
    """``similar_products`` and ``bought_together`` of one product, which is looked up (with the
    catalog and the champions) once for both."""
    k = checked_k(k)
    found = _look_up(sku)
    return tuple(_product_list(found, k=k, now=now, kind=kind) for kind in _PAGE_LISTS)


_PAGE_LISTS = ("similar", "bought_together")


@dataclass(frozen=True)
class _Found:
    sku: str
    pk: int
    title: str
    description: str
    catalog: CatalogSnapshot
    models: dict[str, ServingModel]
    # Scratch models' ids are only unique within one replay: they never read or fill the cache.
    scratch: bool = False


def _look_up(sku: str, models: dict[str, ServingModel] | None = None) -> _Found:
    found = Product.objects.filter(sku=sku).values_list("id", "title", "description").first()
    if found is None:
        raise ProductNotFound(sku)
    if models is None:
        return _Found(sku, *found, catalog=current_catalog(), models=champion_models())
    return _Found(sku, *found, catalog=current_catalog(), models=models, scratch=True)


def _product_list(found: _Found, *, k: int, now: datetime, kind: str) -> Recommendations:
    sku, pk, title, description = found.sku, found.pk, found.title, found.description
    catalog, models, scratch = catalog_at(found.catalog, now=now), found.models, found.scratch
    behavioural = neighbour_model(models)
    before = replay_cutoff(now)
    key = response_key(kind, pk, k, catalog.version, models_key(models), clock_part(before))
    hit = None if scratch else cached_response(key)
    if hit is not None:
        return hit.from_cache()
    row = int(catalog.rows_of(np.array([pk]))[0])
    mask = eligible(catalog, excluded_rows=np.array([row]))
    picks: list[Pick] = []
    seen: set[int] = set()
    product = _Product(row=row, title=title, description=description)
    stages = [
        _neighbours(catalog, behavioural, content_model(models), product, k * POOL_FACTOR),
        _same_category(catalog, popularity_model(models), row, title),
        _popular(catalog, popularity_model(models), before),
    ]
    if kind == "bought_together":
        stages.insert(0, _co_occurring(catalog, pk, title, before))
    for stage in stages:
        for pick in stage:
            if len(picks) >= k * POOL_FACTOR:
                break
            if mask[pick.row] and pick.row not in seen:
                seen.add(pick.row)
                picks.append(pick)
    # No category cap here: on a product page "similar" is meant to stay close to the product.
    chosen = picks[:k]
    result = Recommendations(
        slot=kind,
        items=render(chosen, catalog=catalog),
        product=sku,
        model_version=version_info(behavioural),
        generated_at=now,
    )
    if not scratch:
        store_response(key, result)
    return result


@dataclass(frozen=True)
class _Product:
    row: int  # catalog row
    title: str
    description: str


def _neighbours(
    catalog: CatalogSnapshot,
    behavioural: ServingModel | None,
    content: ServingModel | None,
    product: _Product,
    n: int,
) -> Iterator[Pick]:
    """Behavioural and content neighbours of ``product`` blended in catalog-row space, each
    max-scaled, behaviour weighted by the product's history; the larger share names the reason."""
    if product.row < 0:
        return
    from_behaviour, history = _behavioural_neighbours(catalog, behavioural, product.row, n)
    from_content, text_match = _content_neighbours(catalog, content, product, n)
    prior = settings.SHELFWISE_SIMILAR_CONTENT_PRIOR
    if not from_content or not from_behaviour:
        behaviour_weight = 1.0 if from_behaviour else 0.0
    else:
        behaviour_weight = history / (history + prior)
    scores: dict[int, list[float]] = {}
    for weight, found, slot in (
        (behaviour_weight, from_behaviour, 0),
        (1.0 - behaviour_weight, from_content, 1),
    ):
        top = max(found.values(), default=0.0)
        for row, score in found.items():
            scores.setdefault(row, [0.0, 0.0])[slot] = weight * score / top
    category = int(catalog.category[product.row])
    ranked = sorted(scores.items(), key=lambda item: (-sum(item[1]), item[0]))
    for row, (behaviour, similar) in ranked:
        if behaviour + similar <= 0:
            continue
        if behaviour >= similar:
            source, reason = behavioural.source, reasons.similar_to(title=product.title)
        else:
            same = category >= 0 and int(catalog.category[row]) == category
            source = content.source
            reason = reasons.similar_content(
                title=product.title,
                same_category=same,
                similar_text=bool(text_match[row] >= SIMILAR_TEXT_COSINE),
            )
        yield Pick(row, behaviour + similar, source, reason)


def _behavioural_neighbours(
    catalog: CatalogSnapshot, served: ServingModel | None, row: int, n: int
) -> tuple[dict[int, float], float]:
    """(catalog row → similarity, distinct training shoppers of the product)."""
    if served is None:
        return {}, 0.0
    item_rows, row_items = served.catalog_maps(catalog)
    item = int(row_items[row])
    if item < 0:
        return {}, 0.0
    ids, scores = served.model.similar_items([item], n=n)
    found = {
        int(item_rows[i]): float(s)
        for i, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True)
        if i >= 0 and s > 0 and item_rows[i] >= 0
    }
    # Without recorded support (older artifacts) behaviour and content weigh the same.
    prior = settings.SHELFWISE_SIMILAR_CONTENT_PRIOR
    history = float(served.support[item]) if served.support is not None else prior
    return found, history


def _content_neighbours(
    catalog: CatalogSnapshot, content: ServingModel | None, product: _Product, n: int
) -> tuple[dict[int, float], np.ndarray]:
    """(catalog row → content cosine, text cosine per catalog row): the index's stored top
    neighbours, or for a product added since it was trained, its text scored like a query plus
    a same-category share. The text cosines only choose the reason's words."""
    if content is None:
        return {}, np.zeros(len(catalog), dtype=np.float32)
    item_rows, row_items = content.catalog_maps(catalog)
    item = int(row_items[product.row])
    by_item = content.search.scores(f"{product.title} {product.title} {product.description}")
    known = item_rows >= 0
    text_match = np.zeros(len(catalog), dtype=np.float32)
    text_match[item_rows[known]] = by_item[known]
    if item >= 0:
        # The stored top neighbours: a slice of one CSR row, no similarity computed here.
        similarity = content.model.similarity
        start, stop = similarity.indptr[item], similarity.indptr[item + 1]
        rows, scores = item_rows[similarity.indices[start:stop]], similarity.data[start:stop]
    else:
        scores = text_match.copy()
        category = int(catalog.category[product.row])
        if category >= 0:
            # Weighted like the index's blocks: its cosine is their weighted mean.
            text_weight = float(getattr(content.model, "text_weight", 1.0))
            category_weight = float(getattr(content.model, "category_weight", 0.5))
            same = catalog.category == category
            scores = (text_weight * scores + category_weight * same) / (
                text_weight + category_weight
            )
        scores[product.row] = 0
        rows = np.arange(len(catalog), dtype=np.int64)
    keep = (rows >= 0) & (scores > 0)
    rows, scores = rows[keep], np.asarray(scores, dtype=np.float32)[keep]
    order = np.argsort(-scores, kind="stable")[:n]
    return dict(zip(rows[order].tolist(), scores[order].tolist(), strict=True)), text_match


def _same_category(catalog: CatalogSnapshot, popular: ServingModel | None, row: int, title: str):
    if row < 0 or catalog.category[row] < 0:
        return
    category = int(catalog.category[row])
    parent = catalog.category_parent.get(category)
    reason = reasons.similar_content(title=title, same_category=True)
    rows, scores, _source = popular_rows(catalog=catalog, model=popular)
    for scope in (category, parent):
        if scope is None:
            continue
        inside = np.zeros(len(catalog), dtype=bool)
        inside[catalog.category_rows({scope})] = True
        keep = inside[rows]
        for r, s in zip(rows[keep].tolist(), scores[keep].tolist(), strict=True):
            yield Pick(r, float(s), "content:category", reason)
        newest = np.flatnonzero(inside)
        for r in newest[np.argsort(-catalog.created_at[newest])].tolist():
            yield Pick(r, 0.0, "content:category", reason)


def _popular(catalog: CatalogSnapshot, popular: ServingModel | None, before: datetime | None):
    rows, scores, source = popular_rows(catalog=catalog, model=popular, before=before)
    for r, s in zip(rows.tolist(), scores.tolist(), strict=True):
        yield Pick(r, float(s), source, reasons.popular())


def _co_occurring(catalog: CatalogSnapshot, pk: int, title: str, before: datetime | None):
    counts = _cached_co_occurrence(product_id=pk, before=before)
    if not counts:
        return
    rows = catalog.rows_of(np.array([c[0] for c in counts], dtype=np.int64))
    for r, (_, orders, sessions) in zip(rows.tolist(), counts, strict=True):
        if r < 0:
            continue
        # The reason names what happened: a shared order, else only a shared session.
        if orders:
            reason = reasons.bought_together(title=title, orders=orders)
        else:
            reason = reasons.browsed_together(title=title, sessions=sessions)
        yield Pick(r, float(orders or sessions), "co_occurrence", reason)


def _cached_co_occurrence(
    *, product_id: int, before: datetime | None
) -> list[tuple[int, int, int]]:
    """``co_occurrence_counts``, cached per product and clock."""
    # v3: orders and sessions apart (v2 cached their sum, which every reason called "bought").
    key = f"serving:bought-together:v3:{product_id}{clock_part(before)}"
    cached = cached_response(key)
    if isinstance(cached, list):
        return cached
    ranked = co_occurrence_counts(product_id=product_id, before=before)
    store_entries({key: (ranked, CO_OCCURRENCE_SECONDS)})
    return ranked
