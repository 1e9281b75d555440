"""Merchandiser words for what engineers name in code: algorithms, sources, metrics.

Screens show these; the raw names (``ease@v3``, ``trending:country``) stay in the API and in a
``title`` on hover, for whoever debugs.
"""

from __future__ import annotations

import re

ALGORITHM_LABELS = {
    "popularity": "Popularity",
    "trending": "Trending",
    "item_knn": "Item-kNN",
    "user_knn": "User-kNN",
    "als": "ALS",
    "ease": "EASE",
    "svd": "SVD",
    "rp3beta": "RP3beta",
    "content": "Content",
    "blend": "Blend",
}
# What put an item on a list, by the source's fixed part (before ":" or "@").
SOURCE_LABELS = {
    "trending:country": "Trending in their country",
    "trending:segment": "Popular in their segment",
    "interests": "A category they follow",
    "fallback:newest": "Newest products",
    "fallback": "Popular",
    "purchase_history": "Bought before",
    "repeat": "Buy-again model",
    "co_occurrence": "Bought or browsed together",
    "content:category": "Same category",
}
_METRIC = re.compile(r"^[a-z_]+@\d+$")
# Whole-list metrics without a cut-off; everything else in ModelVersion.metrics is bookkeeping
# (n_users, champion_version, the champion's own score).
_LIST_METRICS = {"coverage", "novelty", "diversity"}


def algorithm_label(name: str) -> str:
    """ "ease" -> "EASE"; an unregistered name in words ("my_model" -> "My model")."""
    return ALGORITHM_LABELS.get(name) or name.replace("_", " ").capitalize()


def source_label(source: str) -> str:
    """ "ease@v3" -> "EASE model", "trending:country" -> "Trending in their country"."""
    if "@v" in source:
        return f"{algorithm_label(source.split('@v', 1)[0])} model"
    if source in SOURCE_LABELS:
        return SOURCE_LABELS[source]
    head = source.split(":", 1)[0]
    return SOURCE_LABELS.get(head, source.replace("_", " ").replace(":", " ").capitalize())


def is_metric(name: str) -> bool:
    """A quality metric of the version itself (ndcg@10, coverage), not a count or a note."""
    return name in _LIST_METRICS or (bool(_METRIC.match(name)) and not name.startswith("champion"))
