"""Availability history: every change of a product's availability, with its time.

A product is available when it is active and in stock (stock untracked or above zero). The
catalog's write paths (``upsert_products`` behind the API and the CSV import, the activation
service behind the admin's actions, the admin's form and its import) record each change here,
so the catalogue as it stood at a past time T can be rebuilt: a replay at T must serve what
was on sale at T. Reading the catalogue at T needs only the changes after T (``states_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from catalog.models import Product, ProductAvailabilityChange

# (is_active, in_stock)
State = tuple[bool, bool]


@dataclass(frozen=True)
class AvailabilityChange:
    product_id: int
    changed_at: datetime
    now: State
    was: State


def stocked(stock: int | None) -> bool:
    """In stock: stock not tracked (None) or above zero."""
    return stock is None or stock > 0


def state_of(product: Product) -> State:
    """The product's availability as its fields stand (saved or not)."""
    return bool(product.is_active), stocked(product.stock)


def current_states(
    *, pks: Iterable[int] | None = None, skus: Iterable[str] | None = None
) -> dict[int, State]:
    """The stored availability of these products, by id or by sku (one query), to compare
    after a write."""
    wanted = Product.objects.filter(pk__in=list(pks or ())) | Product.objects.filter(
        sku__in=list(skus or ())
    )
    rows = wanted.values_list("pk", "is_active", "stock")
    return {pk: (active, stocked(stock)) for pk, active, stock in rows}


def record_changes(*, changes: Iterable[AvailabilityChange]) -> int:
    """Store these changes (those that change nothing are skipped); returns how many."""
    rows = [
        ProductAvailabilityChange(
            product_id=c.product_id,
            changed_at=c.changed_at,
            is_active=c.now[0],
            in_stock=c.now[1],
            was_active=c.was[0],
            was_in_stock=c.was[1],
        )
        for c in changes
        if c.now != c.was
    ]
    ProductAvailabilityChange.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def record_since(*, before: Mapping[int, State], at: datetime) -> int:
    """Record the products whose stored availability differs from ``before`` (their state
    before a write, from ``current_states``) as changed at ``at``; returns how many."""
    after = current_states(pks=before)
    return record_changes(
        changes=(
            AvailabilityChange(product_id=pk, changed_at=at, now=after[pk], was=was)
            for pk, was in before.items()
            if pk in after
        )
    )


def states_at(*, at: datetime) -> dict[int, State]:
    """How each product changed after ``at`` stood at ``at``: product id → (active, in stock).

    A product's state at T is its last recorded state at or before T, which is the state its
    first change after T started from. Products with no change after T stand at T as they
    stand now, so they are not listed: the caller keeps their current state.
    """
    changes = (
        ProductAvailabilityChange.objects.filter(changed_at__gt=at)
        .order_by("product_id", "changed_at", "id")
        .values_list("product_id", "was_active", "was_in_stock")
    )
    states: dict[int, State] = {}
    for pk, was_active, was_in_stock in changes.iterator(chunk_size=5000):
        states.setdefault(pk, (was_active, was_in_stock))
    return states
