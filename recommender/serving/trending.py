"""Non-personal rankings for cold start and fallbacks: trending by country/segment, popularity.

Training stores global popularity and trending champions but nothing per country. Trending per
country or segment ranks the products most shoppers touched in the last
``SHELFWISE_TRENDING_DAYS`` of events (anchored on the newest event, like training): live
requests read the list the event-summaries task stored (``behavior.trending_lists``, every 5
minutes); a past clock, or no refresh in ``STORED_MAX_AGE``, counts from the events
(``behavior.volume_selectors.trending_counts``). Either is cached in the shared cache for
``SHELFWISE_TRENDING_CACHE_SECONDS`` and in process memory for a few seconds.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from urllib.parse import quote

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from behavior.kinds import event_weights
from behavior.trending_lists import LIST_LENGTH
from behavior.volume_selectors import stored_trending, trending_counts
from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.clock import clock_part
from recommender.serving.model_cache import ServingModel

TOP = LIST_LENGTH
# The refresh runs every 5 minutes: two may be missed before requests count from the events.
STORED_MAX_AGE = timedelta(minutes=15)
MEMO_SECONDS = 10.0
FALLBACK = "fallback"

_memo: dict[str, tuple[float, list[tuple[int, float]]]] = {}


def trending_rows(
    *,
    catalog: CatalogSnapshot,
    country: str = "",
    segment: str = "",
    before: datetime | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Catalog rows trending among shoppers of ``country``/``segment`` (all if both empty),
    best first, with their scores (distinct shoppers, ties broken by event weight); with
    ``before`` (a past clock), from the events that occurred before it."""
    ranked = _cached_ranking(country=country, segment=segment, before=before)
    if not ranked:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    pks = np.fromiter((pk for pk, _ in ranked), dtype=np.int64, count=len(ranked))
    scores = np.fromiter((s for _, s in ranked), dtype=np.float32, count=len(ranked))
    rows = catalog.rows_of(pks)
    known = rows >= 0
    return rows[known], scores[known]


def popular_rows(
    *, catalog: CatalogSnapshot, model: ServingModel | None, before: datetime | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Global popularity: the trending/popularity champion, else events (source "fallback")."""
    if model is None:
        rows, scores = trending_rows(catalog=catalog, before=before)
        return rows, scores, FALLBACK
    item_rows, _ = model.catalog_maps(catalog)
    scores = np.asarray(model.model.item_scores, dtype=np.float32)
    order = model.ranked_items()[: TOP * 4]
    order = order[(item_rows[order] >= 0) & (scores[order] > 0)]
    return item_rows[order], scores[order], model.source


def _cached_ranking(
    *, country: str, segment: str, before: datetime | None
) -> list[tuple[int, float]]:
    # Quoted: country and segment names carry spaces, which are not portable in cache keys.
    key = f"serving:trending:{quote(country)}:{quote(segment)}{clock_part(before)}"
    memo = _memo.get(key)
    if memo is not None and time.monotonic() - memo[0] < MEMO_SECONDS:
        return memo[1]
    ranked = cache.get(key)
    if ranked is None:
        ranked = _ranking(country=country, segment=segment, before=before)
        cache.set(key, ranked, settings.SHELFWISE_TRENDING_CACHE_SECONDS)
    _memo[key] = (time.monotonic(), ranked)
    return ranked


def _ranking(*, country: str, segment: str, before: datetime | None) -> list[tuple[int, float]]:
    if before is None:
        stored = stored_trending(
            country=country,
            segment=segment,
            days=settings.SHELFWISE_TRENDING_DAYS,
            fresher_than=timezone.now() - STORED_MAX_AGE,
        )
        if stored is not None:
            return stored[:TOP]
    return trending_counts(
        country=country,
        segment=segment,
        before=before,
        days=settings.SHELFWISE_TRENDING_DAYS,
        kind_weights=event_weights(),
        limit=TOP,
    )


def forget_trending() -> None:
    """Drop the in-process memo (tests, or after a bulk import)."""
    _memo.clear()
