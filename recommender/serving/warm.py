"""Warming a fresh web worker before it takes traffic.

Without it the first request of each worker pays for loading every champion's artifact, the
catalog snapshot and the maps between them: seconds on a 60,000-product shop, while the load
balancer already sends it requests. Gunicorn calls ``warm_up`` from ``post_worker_init``, before
the worker accepts connections.
"""

from __future__ import annotations

import logging
import time

from recommender.serving.catalog_state import current_catalog
from recommender.serving.model_cache import champion_models
from recommender.serving.repeat_model import current_repeat_model

logger = logging.getLogger(__name__)


def warm_up() -> float:
    """Load the champions, the buy-again model and the catalog snapshot, and map each model's
    items onto the catalog's rows; returns the seconds it took. Never raises: a worker that
    cannot warm (no database yet, a broken artifact) still starts, and its first request loads
    what it can, as it would have."""
    started = time.perf_counter()
    try:
        models = champion_models()
        catalog = current_catalog()
        for served in models.values():
            served.catalog_maps(catalog)
        current_repeat_model()
    except Exception:
        logger.exception("Could not warm the worker; its first request will load the models")
    seconds = time.perf_counter() - started
    logger.info("Worker warmed in %.2f s", seconds)
    return seconds
