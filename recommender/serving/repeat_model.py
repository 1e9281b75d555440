"""The buy-again model this process serves: the latest successful training run's, when it beat
"own most frequent" on that run's validation window (``training.repeat``); None otherwise, and
the slot ranks by personal frequency alone. Its path is read with the champions
(``model_cache``), at most every SHELFWISE_MODEL_CHECK_SECONDS and in the same query.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

from recommender.artifacts import ArtifactError, load_repeat_artifact
from recommender.core.matrix import IdIndex
from recommender.core.repeat import RepeatModel
from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.model_cache import served_buy_again_artifact

logger = logging.getLogger(__name__)


@dataclass
class RepeatServing:
    """A fitted repeat model, its id maps, and its items' catalog rows (per catalog version)."""

    model: RepeatModel
    items: IdIndex
    users: IdIndex
    source: str = "repeat"
    _rows: tuple[str, np.ndarray] | None = field(default=None, repr=False)

    def item_rows(self, catalog: CatalogSnapshot) -> np.ndarray:
        """Catalog row of each model item, -1 when the catalog no longer has it."""
        if self._rows is None or self._rows[0] != catalog.version:
            self._rows = (catalog.version, catalog.rows_of(self.items.ids))
        return self._rows[1]


class _State:
    lock = threading.Lock()
    artifact: str | None = None
    served: RepeatServing | None = None


def current_repeat_model() -> RepeatServing | None:
    """The serving buy-again model (None: the slot's frequency ranking serves), as of the last
    ``champion_models()`` check."""
    state = _State
    artifact = served_buy_again_artifact()
    if artifact == state.artifact:
        return state.served
    with state.lock:
        if artifact != state.artifact:
            served = None
            if artifact:
                try:
                    model, items, users = load_repeat_artifact(artifact)
                    source = f"repeat:{_model_id(artifact)}"
                    served = RepeatServing(model, items, users, source=source)
                except ArtifactError:
                    logger.exception("buy-again model %s unreadable; serving frequency", artifact)
            state.served, state.artifact = served, artifact
        return state.served


def forget_repeat_model() -> None:
    """Drop the loaded model (tests, and a process that must re-read at once)."""
    with _State.lock:
        _State.artifact, _State.served = None, None


def _model_id(artifact: str) -> str:
    """The artifact's file name without its folder or suffix: a source names the model, never
    where the server keeps it."""
    return PurePath(artifact).name.split(".", 1)[0]
