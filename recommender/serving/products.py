"""Product-page lists: similar items and items bought together.

Similar: the item-kNN champion's neighbours (behaviour), then products of the same category
ranked by popularity (the content-like signal we have for products with little history), then
global popularity. Bought together: co-occurrence within the same order or session, counted
lazily with one query per product and cached.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from django.db import connection

from behavior.models import Event
from catalog.models import Product
from recommender.serving import reasons
from recommender.serving.cache import cached_response, response_key, store_response
from recommender.serving.catalog_state import CatalogSnapshot, current_catalog
from recommender.serving.model_cache import (
    ServingModel,
    champion_models,
    personal_model,
    popularity_model,
)
from recommender.serving.results import Recommendations
from recommender.serving.rules import checked_k, eligible
from recommender.serving.selectors import models_key, render, version_info
from recommender.serving.slots import Pick
from recommender.serving.trending import popular_rows

POOL_FACTOR = 3
BASKETS_SCANNED = 2000  # the product's latest orders/sessions counted; older ones add little


class ProductNotFound(LookupError):
    """No product has this sku."""


def similar_products(*, sku: str, k: int, now: datetime) -> Recommendations:
    """Up to ``k`` eligible products like ``sku``, behaviour first, never the product itself."""
    return _product_list(sku=sku, k=k, now=now, kind="similar")


def bought_together(*, sku: str, k: int, now: datetime) -> Recommendations:
    """Up to ``k`` eligible products bought or browsed with ``sku`` in the same order/session,
    completed by similar products when baskets are few."""
    return _product_list(sku=sku, k=k, now=now, kind="bought_together")


def _product_list(*, sku: str, k: int, now: datetime, kind: str) -> Recommendations:
    k = checked_k(k)
    found = Product.objects.filter(sku=sku).values_list("id", "title").first()
    if found is None:
        raise ProductNotFound(sku)
    pk, title = found
    catalog = current_catalog()
    models = champion_models()
    behavioural = models.get("item_knn") or personal_model(models)
    key = response_key(kind, pk, k, catalog.version, models_key(models))
    hit = cached_response(key)
    if hit is not None:
        return hit.from_cache()
    row = int(catalog.rows_of(np.array([pk]))[0])
    mask = eligible(catalog, excluded_rows=np.array([row]))
    picks: list[Pick] = []
    seen: set[int] = set()
    stages = [
        _neighbours(catalog, behavioural, row, title, k * POOL_FACTOR),
        _same_category(catalog, popularity_model(models), row, title),
        _popular(catalog, popularity_model(models)),
    ]
    if kind == "bought_together":
        stages.insert(0, _co_occurring(catalog, pk, title))
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
    store_response(key, result)
    return result


def _neighbours(
    catalog: CatalogSnapshot, served: ServingModel | None, row: int, title: str, n: int
):
    if served is None or row < 0:
        return
    item_rows, row_items = served.catalog_maps(catalog)
    item = int(row_items[row])
    if item < 0:
        return
    ids, scores = served.model.similar_items([item], n=n)
    reason = reasons.similar_to(title=title)
    for neighbour, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
        if neighbour >= 0 and score > 0:
            yield Pick(int(item_rows[neighbour]), float(score), served.source, reason)


def _same_category(catalog: CatalogSnapshot, popular: ServingModel | None, row: int, title: str):
    if row < 0 or catalog.category[row] < 0:
        return
    category = int(catalog.category[row])
    parent = catalog.category_parent.get(category)
    reason = reasons.similar_content(title=title)
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


def _popular(catalog: CatalogSnapshot, popular: ServingModel | None):
    rows, scores, source = popular_rows(catalog=catalog, model=popular)
    for r, s in zip(rows.tolist(), scores.tolist(), strict=True):
        yield Pick(r, float(s), source, reasons.popular())


def _co_occurring(catalog: CatalogSnapshot, pk: int, title: str):
    counts = _co_occurrence_counts(pk)
    if not counts:
        return
    rows = catalog.rows_of(np.array([c[0] for c in counts], dtype=np.int64))
    for r, (_, baskets) in zip(rows.tolist(), counts, strict=True):
        if r >= 0:
            reason = reasons.bought_together(title=title, baskets=baskets)
            yield Pick(r, float(baskets), "co_occurrence", reason)


def _co_occurrence_counts(pk: int) -> list[tuple[int, int]]:
    """(product pk, shared baskets) for products in the same orders or sessions as ``pk``.

    A basket is an order id, else a session id, of one shopper; joining on the shopper uses the
    (shopper, time) index, so no index on order or session id is needed.
    """
    key = f"serving:bought-together:{pk}"
    cached = cached_response(key)
    if cached is not None:
        return cached
    table = Event._meta.db_table
    basket = "coalesce(nullif({0}.order_id, ''), nullif({0}.session_id, ''))"
    sql = f"""
        WITH mine AS (
            SELECT DISTINCT shopper_id, {basket.format("e")} AS basket
            FROM (SELECT * FROM {table} e WHERE e.product_id = %s
                  ORDER BY e.occurred_at DESC LIMIT {BASKETS_SCANNED}) e
            WHERE {basket.format("e")} IS NOT NULL
        )
        SELECT o.product_id, count(DISTINCT (o.shopper_id, {basket.format("o")})) AS baskets
        FROM mine JOIN {table} o
          ON o.shopper_id = mine.shopper_id AND {basket.format("o")} = mine.basket
        WHERE o.product_id IS NOT NULL AND o.product_id <> %s
        GROUP BY o.product_id ORDER BY baskets DESC, o.product_id LIMIT 200
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk, pk])
        counts = [(int(p), int(n)) for p, n in cursor.fetchall()]
    store_response(key, counts)
    return counts
