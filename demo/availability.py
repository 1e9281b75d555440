"""The demo's availability history: when the products it makes unavailable stopped being sold.

A real shop's sold-out or switched-off product was on sale while people bought it, and its
catalog recorded the moment that changed (``catalog.availability``). The demo writes the same
history, so a replay at a past cut serves the catalogue as it stood then: each product the
plan makes inactive or sold out changed from on sale at a seeded time after its last event
(or its launch, when nobody touched it) and before the build's ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from catalog.availability import AvailabilityChange, record_changes, stocked
from catalog.models import Product
from demo.rows import ShopPlan

ON_SALE = (True, True)
# Seeds this history's draws apart from the plan's own (the same seed, the same history).
HISTORY_STREAM = 22


def record_plan_history(plan: ShopPlan, *, products: list[int], now: datetime, seed: int) -> int:
    """Record when each unavailable product of ``plan`` (stored as ``products``, in plan
    order) stopped being on sale; returns how many changes were written."""
    unavailable = [i for i, p in enumerate(plan.products) if not (p.is_active and stocked(p.stock))]
    wanted = set(unavailable)
    last: dict[int, datetime] = {}
    for product, at in zip(plan.events.product, plan.events.occurred_at, strict=True):
        if product in wanted and (product not in last or at > last[product]):
            last[product] = at
    draws = np.random.default_rng([seed, HISTORY_STREAM]).uniform(0.01, 1.0, len(unavailable))
    changes = []
    for i, u in zip(unavailable, draws.tolist(), strict=True):
        p = plan.products[i]
        since = last.get(i, now - timedelta(days=p.launched_days_ago))
        changes.append(
            AvailabilityChange(
                product_id=products[i],
                changed_at=since + (now - since) * u,
                now=(p.is_active, stocked(p.stock)),
                was=ON_SALE,
            )
        )
    return record_changes(changes=changes)


def record_stock_dressing(products: Iterable[Product], *, at: datetime, sold_out: bool) -> int:
    """Record the demo's sold-out dressing of imported products (``sold_out``) or its undoing,
    at ``at``; returns how many changes were written."""
    return record_changes(
        changes=(
            AvailabilityChange(
                product_id=p.pk,
                changed_at=at,
                now=(p.is_active, not sold_out),
                was=(p.is_active, sold_out),
            )
            for p in products
        )
    )
