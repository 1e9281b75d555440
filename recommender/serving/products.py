"""Product-page lists: similar items and items bought together.

Similar: the item-kNN champion's neighbours (behaviour) blended with the content index's
(description, category, brand, price), weighted toward content for products with little
history: behaviour weighs ``n / (n + SHELFWISE_SIMILAR_CONTENT_PRIOR)`` for a product ``n``
distinct shoppers touched in training. A product added since training has no content vector
yet: its title and description are scored as a search query, with its category counted too.
Then products of the same category ranked by popularity, then global popularity, so the list
is never empty. Bought together (``together``): products purchased in the same orders first,
then products in the same order-less sessions, then the similar list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings

from catalog.models import Product
from catalog.versioning import VERSION_KEY
from recommender.serving import reasons
from recommender.serving.cache import cached_entries, digest_of, fresh_entry, store_entries
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
from recommender.serving.together import co_occurring
from recommender.serving.trending import popular_rows

POOL_FACTOR = 3
# Text cosine from which a content neighbour's reason says "similar description".
SIMILAR_TEXT_COSINE = 0.1


class ProductNotFound(LookupError):
    """No product has this sku."""


def similar_products(
    *, sku: str, k: int, now: datetime, models: dict[str, ServingModel] | None = None
) -> Recommendations:
    """Up to ``k`` eligible products like ``sku``, behaviour first, never the product itself;
    ``models`` (a replay's scratch models) replace the champions and bypass the cache."""
    return _product_lists(sku, k=checked_k(k), now=now, kinds=("similar",), models=models)[0]


def bought_together(
    *, sku: str, k: int, now: datetime, models: dict[str, ServingModel] | None = None
) -> Recommendations:
    """Up to ``k`` eligible products bought or browsed with ``sku`` in the same order/session,
    completed by similar products when baskets are few; ``models`` as for similar_products."""
    kinds = ("bought_together",)
    return _product_lists(sku, k=checked_k(k), now=now, kinds=kinds, models=models)[0]


def product_page_lists(*, sku: str, k: int, now: datetime) -> tuple[Recommendations, ...]:
    """``similar_products`` and ``bought_together`` of one product, which is looked up (with the
    catalog and the champions) once for both."""
    return _product_lists(sku, k=checked_k(k), now=now, kinds=_PAGE_LISTS)


_PAGE_LISTS = ("similar", "bought_together")


def _product_lists(
    sku: str,
    *,
    k: int,
    now: datetime,
    kinds: tuple[str, ...],
    models: dict[str, ServingModel] | None = None,
) -> tuple[Recommendations, ...]:
    """The product's lists, each from the response cache or computed (scratch models' ids are
    only unique within one replay: they never read or fill the cache).

    The catalog version and the cached lists are read in one round trip, under names that hold
    only the request (the sku, k and clock), with a digest of what else they depend on (the
    product, catalog and model versions) stored beside each; the product comes from the
    snapshot. A response cache of 0 seconds (or scratch models) reads and writes no entry.
    """
    before = replay_cutoff(now)
    seconds = settings.SHELFWISE_RESPONSE_CACHE_SECONDS if models is None else 0
    names = {kind: _entry_name(kind, sku, k, before) for kind in kinds} if seconds else {}
    if names:
        entries = cached_entries([VERSION_KEY, *names.values()])
        catalog = current_catalog(bumped=str(entries.get(VERSION_KEY) or 0))
    else:
        entries, catalog = {}, current_catalog()
    found = _look_up(sku, catalog, models)
    results, writes = [], {}
    for kind in kinds:
        digest = digest_of(kind, k, found.pk, catalog.version, models_key(found.models))
        hit = fresh_entry(entries.get(names[kind]), digest) if names else None
        if hit is not None:
            results.append(hit.from_cache())
            continue
        result = _product_list(found, k=k, now=now, kind=kind, before=before)
        if names:
            writes[names[kind]] = ((digest, result), seconds)
        results.append(result)
    store_entries(writes)
    return tuple(results)


def _entry_name(kind: str, sku: str, k: int, before: datetime | None) -> str:
    return f"serving:product-list:{digest_of(kind, sku, k, clock_part(before))}"


@dataclass(frozen=True)
class _Found:
    sku: str
    pk: int
    title: str
    catalog: CatalogSnapshot
    models: dict[str, ServingModel]
    # Read with the product when it came from PostgreSQL; None: read only if needed.
    description: str | None = None


def _look_up(
    sku: str, catalog: CatalogSnapshot, models: dict[str, ServingModel] | None = None
) -> _Found:
    """The product from the catalog snapshot (no query), or from PostgreSQL when it was added
    after the snapshot was built (the periodic fingerprint check has not seen it yet)."""
    models = champion_models() if models is None else models
    row = catalog.row_of_sku(sku)
    if row >= 0:
        pk, title = int(catalog.pks[row]), str(catalog.names.titles[row])
        return _Found(sku, pk, title, catalog=catalog, models=models)
    found = Product.objects.filter(sku=sku).values_list("id", "title", "description").first()
    if found is None:
        raise ProductNotFound(sku)
    pk, title, description = found
    return _Found(sku, pk, title, catalog=catalog, models=models, description=description)


def _product_list(
    found: _Found, *, k: int, now: datetime, kind: str, before: datetime | None
) -> Recommendations:
    sku, pk, title = found.sku, found.pk, found.title
    # A past clock (a replay) is served the catalogue as it stood then.
    catalog, models = catalog_at(found.catalog, now=now), found.models
    behavioural = neighbour_model(models)
    row = int(catalog.rows_of(np.array([pk]))[0])
    mask = eligible(catalog, excluded_rows=np.array([row]))
    picks: list[Pick] = []
    seen: set[int] = set()
    product = _Product(row=row, pk=pk, title=title, description=found.description)
    stages = [
        _neighbours(catalog, behavioural, content_model(models), product, k * POOL_FACTOR),
        _same_category(catalog, popularity_model(models), row, title),
        _popular(catalog, popularity_model(models), before),
    ]
    if kind == "bought_together":
        stages.insert(0, co_occurring(catalog, pk, title, before))
    for stage in stages:
        if len(picks) >= k * POOL_FACTOR:
            break  # a later stage's set-up (its ranking, its category) is not needed
        for pick in stage:
            if len(picks) >= k * POOL_FACTOR:
                break
            if mask[pick.row] and pick.row not in seen:
                seen.add(pick.row)
                picks.append(pick)
    # No category cap here: on a product page "similar" is meant to stay close to the product.
    return Recommendations(
        slot=kind,
        items=render(picks[:k], catalog=catalog),
        product=sku,
        model_version=version_info(behavioural),
        generated_at=now,
    )


@dataclass(frozen=True)
class _Product:
    row: int  # catalog row
    pk: int
    title: str
    description: str | None  # None: not read (only a product the content index lacks needs it)


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
                similar_text=bool(text_match.get(row, 0.0) >= SIMILAR_TEXT_COSINE),
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
) -> tuple[dict[int, float], dict[int, float]]:
    """(catalog row → content cosine, catalog row → text cosine) of the top ``n``: the index's
    stored neighbours, or for a product added since it was trained, its text scored like a
    query plus a same-category share. The text cosines only choose the reason's words."""
    if content is None:
        return {}, {}
    item_rows, row_items = content.catalog_maps(catalog)
    item = int(row_items[product.row])
    if item < 0:
        return _unindexed_neighbours(catalog, content, product, n)
    # The stored top neighbours: a slice of one CSR row, no similarity computed here.
    similarity = content.model.similarity
    start, stop = similarity.indptr[item], similarity.indptr[item + 1]
    items, scores = similarity.indices[start:stop], similarity.data[start:stop]
    rows = item_rows[items]
    keep = (rows >= 0) & (scores > 0)
    items, rows, scores = items[keep], rows[keep], np.asarray(scores, dtype=np.float32)[keep]
    order = np.argsort(-scores, kind="stable")[:n]
    # Text cosines of these neighbours alone (the product's indexed text against theirs), not
    # of the whole catalogue: scoring every product's text cost ~1.2 ms a page at 60k products.
    text = content.model.text_similarity(item, items[order])
    chosen = rows[order].tolist()
    return (
        dict(zip(chosen, scores[order].tolist(), strict=True)),
        dict(zip(chosen, text.tolist(), strict=True)),
    )


def _unindexed_neighbours(
    catalog: CatalogSnapshot, content: ServingModel, product: _Product, n: int
) -> tuple[dict[int, float], dict[int, float]]:
    """A product the index has not seen: its title and description scored as a search query
    over the indexed products, blended with a same-category share as the index weighs it."""
    item_rows, _ = content.catalog_maps(catalog)
    description = product.description
    if description is None:
        description = Product.objects.filter(pk=product.pk).values_list("description", flat=True)
        description = description.first() or ""
    by_item = content.search.scores(f"{product.title} {product.title} {description}")
    known = item_rows >= 0
    text_match = np.zeros(len(catalog), dtype=np.float32)
    text_match[item_rows[known]] = by_item[known]
    scores = text_match.copy()
    category = int(catalog.category[product.row])
    if category >= 0:
        # Weighted like the index's blocks: its cosine is their weighted mean.
        text_weight = float(getattr(content.model, "text_weight", 1.0))
        category_weight = float(getattr(content.model, "category_weight", 0.5))
        same = catalog.category == category
        scores = (text_weight * scores + category_weight * same) / (text_weight + category_weight)
    scores[product.row] = 0
    rows = np.flatnonzero(scores > 0)
    scores = np.asarray(scores, dtype=np.float32)[rows]
    order = np.argsort(-scores, kind="stable")[:n]
    chosen = rows[order]
    return (
        dict(zip(chosen.tolist(), scores[order].tolist(), strict=True)),
        dict(zip(chosen.tolist(), text_match[chosen].tolist(), strict=True)),
    )


def _same_category(catalog: CatalogSnapshot, popular: ServingModel | None, row: int, title: str):
    """The product's category, then its parent: their most popular products, then their
    newest, from per-snapshot member lists (no pass over the catalogue per request)."""
    if row < 0 or catalog.category[row] < 0:
        return
    category = int(catalog.category[row])
    parent = catalog.category_parent.get(category)
    reason = reasons.similar_content(title=title, same_category=True)
    rows, scores, _source = popular_rows(catalog=catalog, model=popular)
    for scope in (category, parent):
        if scope is None:
            continue
        members, newest = _category_members(catalog, scope)
        at = np.searchsorted(members, rows)
        at[at >= members.size] = 0
        keep = members[at] == rows if members.size else np.zeros(rows.size, dtype=bool)
        for r, s in zip(rows[keep].tolist(), scores[keep].tolist(), strict=True):
            yield Pick(r, float(s), "content:category", reason)
        for start in range(0, newest.size, _CHUNK):
            for r in newest[start : start + _CHUNK].tolist():
                yield Pick(r, 0.0, "content:category", reason)


# Newest members are read this many at a time: most pages stop after the first few.
_CHUNK = 64


def _category_members(catalog: CatalogSnapshot, scope: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the category and its sub-categories, ascending and newest first; derived once
    per catalog snapshot (sorting a large category's creation times cost ~0.5 ms a page)."""
    key = ("products:category_members", scope)
    found = catalog.derived.get(key)
    if found is None:
        members = catalog.category_rows({scope})
        found = (members, members[np.argsort(-catalog.created_at[members])])
        catalog.derived[key] = found
    return found


def _popular(catalog: CatalogSnapshot, popular: ServingModel | None, before: datetime | None):
    rows, scores, source = popular_rows(catalog=catalog, model=popular, before=before)
    for r, s in zip(rows.tolist(), scores.tolist(), strict=True):
        yield Pick(r, float(s), source, reasons.popular())
