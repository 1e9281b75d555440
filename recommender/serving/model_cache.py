"""The champion models this process serves, loaded once, memory-mapped and swapped on promotion.

Asking "which versions are champions?" is one indexed query, made at most every
``SHELFWISE_MODEL_CHECK_SECONDS`` per process; a new champion is loaded on the next request after
that (artifacts are immutable, so a loaded version never goes stale). A version whose artifact
cannot be read is logged and skipped: the slot falls back instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from recommender.artifacts import ArtifactError, load_artifact
from recommender.core import Recommender
from recommender.core.matrix import IdIndex
from recommender.selectors import champion_versions
from recommender.serving.catalog_state import CatalogSnapshot

logger = logging.getLogger(__name__)


@dataclass
class ServingModel:
    """A loaded champion and its id map, with the catalog rows of its items cached."""

    version_id: int
    uuid: str
    algorithm: str
    model: Recommender
    items: IdIndex
    ndcg: float | None
    _rows: tuple[str, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        return f"{self.algorithm}@v{self.version_id}"

    @property
    def personalized(self) -> bool:
        return bool(getattr(self.model, "personalized", True))

    def catalog_maps(self, catalog: CatalogSnapshot) -> tuple[np.ndarray, np.ndarray]:
        """(catalog row of each model item or -1, model item of each catalog row or -1)."""
        cached = self._rows
        if cached is None or cached[0] != catalog.version:
            item_rows = catalog.rows_of(self.items.ids)
            row_items = np.full(len(catalog), -1, dtype=np.int64)
            known = item_rows >= 0
            row_items[item_rows[known]] = np.flatnonzero(known)
            cached = (catalog.version, item_rows, row_items)
            self._rows = cached
        return cached[1], cached[2]


class _State:
    lock = threading.Lock()
    models: dict[str, ServingModel] = {}
    checked_at: float = float("-inf")


def champion_models() -> dict[str, ServingModel]:
    """Algorithm name → its loaded champion; reloads when a champion changed."""
    state = _State
    if time.monotonic() - state.checked_at < settings.SHELFWISE_MODEL_CHECK_SECONDS:
        return state.models
    with state.lock:
        if time.monotonic() - state.checked_at < settings.SHELFWISE_MODEL_CHECK_SECONDS:
            return state.models
        rows = champion_versions().values_list("id", "uuid", "algorithm", "artifact", "metrics")
        models: dict[str, ServingModel] = {}
        for version_id, uuid, algorithm, artifact, metrics in rows:
            loaded = state.models.get(algorithm)
            if loaded is not None and loaded.version_id == version_id:
                models[algorithm] = loaded
                continue
            try:
                model, items, _users = load_artifact(artifact, algorithm=algorithm)
            except ArtifactError:
                logger.exception(
                    "Cannot load champion %s v%s; serving without it", algorithm, version_id
                )
                continue
            ndcg = (metrics or {}).get(f"ndcg@{settings.SHELFWISE_EVAL_K}")
            models[algorithm] = ServingModel(
                version_id=version_id,
                uuid=str(uuid),
                algorithm=algorithm,
                model=model,
                items=items,
                ndcg=None if ndcg is None else float(ndcg),
            )
            logger.info("Serving %s v%s (%d items)", algorithm, version_id, len(items))
        state.models = models
        state.checked_at = time.monotonic()
        return models


def forget_models() -> None:
    """Drop loaded models so the next request reloads (tests; after a manual rollback)."""
    with _State.lock:
        _State.models = {}
        _State.checked_at = float("-inf")


def personal_model(models: dict[str, ServingModel]) -> ServingModel | None:
    """The model behind "for you": the configured algorithm, else the best personalised NDCG."""
    wanted = settings.SHELFWISE_SERVING_MODEL
    if wanted != "auto" and wanted in models:
        return models[wanted]
    personal = [m for m in models.values() if m.personalized]
    if not personal:
        return None
    return max(personal, key=lambda m: (m.ndcg if m.ndcg is not None else -1.0, m.version_id))


def popularity_model(models: dict[str, ServingModel]) -> ServingModel | None:
    """The non-personalised ranking for fallbacks: trending (recent) before all-time popularity."""
    return models.get("trending") or models.get("popularity")
