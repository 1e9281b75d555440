"""A synthetic shop plan's events as the training pipeline's ``EventArrays`` (no database)."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from recommender.training.dataset import EventArrays


def planned_event_arrays(plan, *, now: datetime) -> EventArrays:
    """The plan's product events, oldest first; pks are the plan's indexes + 1."""
    events = plan.events
    product = np.array(events.product)
    keep = product >= 0
    times = np.array([at.timestamp() for at in events.occurred_at])[keep]
    order = np.argsort(times, kind="stable")
    return EventArrays(
        np.array(events.shopper)[keep][order] + 1,
        product[keep][order] + 1,
        np.array(events.kind)[keep][order],
        np.array(events.value, dtype=float)[keep][order],
        times[order],
        now,
        now,
    )
