"""A per-process snapshot of what may be recommended, as numpy arrays indexed by catalog row.

Eligibility (active, in stock, points price, category, promotion membership) is read on every
request, so it must not cost a query per product. Each web process keeps the whole catalog as
arrays (about 40 bytes per product) and rebuilds them when the catalog changes:

- catalog services call ``catalog.versioning.bump_catalog_version()``: a counter in the cache,
  read on every request, so a stock, price or activity change shows in the very next response;
- changes made elsewhere (admin, CSV imports, shell) are caught by a fingerprint query
  (count and ``Max(updated_at)`` of products, a digest of promotions and the category tree),
  run at most every ``SHELFWISE_CATALOG_CHECK_SECONDS``. No signals: domain flow stays explicit.

A request at a past clock (a replay) is served the catalogue as it stood then (``catalog_at``):
each product's availability at T is read from the catalog's availability history.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import connection

from catalog.availability import states_at
from catalog.models import Category, CategoryTree, Product, Promotion
from catalog.versioning import catalog_version
from recommender.serving.clock import replay_cutoff
from recommender.serving.results import CARDS_KEPT, ProductCard, product_cards

logger = logging.getLogger(__name__)

_NO_CATEGORY = -1
_ROW_OF_SKU = "catalog_state:row_of_sku"


@dataclass(frozen=True)
class PromotionInfo:
    id: int
    name: str
    discount_percent: float
    starts_at: datetime
    ends_at: datetime
    priority: int
    rows: np.ndarray  # catalog rows of the products it covers


@dataclass(frozen=True)
class ProductAttributes:
    """What rules match products on, by catalog row: the placements' filters and boosts read
    these once per snapshot instead of each candidate's card on every request."""

    price: np.ndarray  # float64
    stock: np.ndarray  # float64, NaN: not tracked
    brand: np.ndarray  # object: the brand case-folded ("" for none)
    tags: list[tuple[str, ...]]  # as stored (lower case)


@dataclass(frozen=True)
class ProductNames:
    """Each row's sku and title: a product page finds its product and names it in reasons
    without a query (the row of a sku is looked up in a dict built on first use)."""

    skus: np.ndarray  # object
    titles: np.ndarray  # object


@dataclass
class CatalogSnapshot:
    """The catalog as arrays; row ``r`` describes product ``pks[r]`` (pks sorted ascending)."""

    version: str
    pks: np.ndarray
    available: np.ndarray  # bool: active and (stock untracked or > 0)
    points_price: np.ndarray  # int64; 0 = not redeemable with points
    category: np.ndarray  # int64 category id, -1 for none
    created_at: np.ndarray  # float64 Unix seconds
    category_names: dict[int, str]
    category_parent: dict[int, int | None]
    promotions: list[PromotionInfo]
    _descendants: dict[int, np.ndarray] = field(default_factory=dict)
    _tree: CategoryTree | None = None
    # Product cards read under this snapshot (results.product_cards): they live and die with it.
    card_memo: dict = field(default_factory=dict)
    # What callers derive from this snapshot alone (a rule's matcher, the promoted rows), under
    # keys of their own: built once per snapshot instead of once per request.
    derived: dict = field(default_factory=dict)
    attributes: ProductAttributes | None = None  # None: not read (a snapshot built by hand)
    as_of: datetime | None = None  # the past clock it stands at (``catalog_at``); None: today
    names: ProductNames | None = None  # None: not read (a snapshot built by hand)

    def __len__(self) -> int:
        return int(self.pks.size)

    def rows_of(self, pks: np.ndarray) -> np.ndarray:
        """Catalog rows of product pks; -1 for pks no longer in the catalog."""
        pks = np.asarray(pks, dtype=np.int64)
        out = np.full(pks.shape, -1, dtype=np.int64)
        if not len(self) or not pks.size:
            return out
        position = np.searchsorted(self.pks, pks)
        position[position >= self.pks.size] = 0
        found = self.pks[position] == pks
        out[found] = position[found]
        return out

    def on_sale(self, card: ProductCard) -> bool:
        """Whether a product read just now (its card) may be shown under this snapshot.

        Today's snapshot: the card decides, being fresher (a sale-out since the snapshot shows
        at once). A past clock's: the snapshot does, since the card says how it stands today.
        """
        if self.as_of is None:
            return card.in_stock and card.is_active
        row = int(self.rows_of(np.array([card.id]))[0])
        return row >= 0 and bool(self.available[row])

    def row_of_sku(self, sku: str) -> int:
        """The catalog row of the product with this sku; -1 when the snapshot does not hold it
        (or holds no names)."""
        if self.names is None:
            return -1
        rows = self.derived.get(_ROW_OF_SKU)
        if rows is None:
            rows = {sku: row for row, sku in enumerate(self.names.skus.tolist())}
            self.derived[_ROW_OF_SKU] = rows
        return rows.get(sku, -1)

    def active_promotions(self, *, now: datetime) -> list[PromotionInfo]:
        """Promotions whose window contains ``now``, best first (priority, then discount)."""
        live = [p for p in self.promotions if p.starts_at <= now < p.ends_at]
        return sorted(live, key=lambda p: (-p.priority, -p.discount_percent, p.id))

    def category_rows(self, category_ids: set[int]) -> np.ndarray:
        """Rows of products in these categories or any of their sub-categories."""
        ids = set()
        for category_id in category_ids:
            ids |= set(self.descendants(category_id).tolist())
        return self._rows_in(ids)

    def descendants(self, category_id: int) -> np.ndarray:
        """The category and every category below it."""
        if category_id not in self._descendants:
            found = self.tree.with_descendants({category_id})
            self._descendants[category_id] = np.fromiter(found, dtype=np.int64)
        return self._descendants[category_id]

    @property
    def tree(self) -> CategoryTree:
        if self._tree is None:
            self._tree = CategoryTree(self.category_parent)
        return self._tree

    def _rows_in(self, category_ids: set[int]) -> np.ndarray:
        """Rows of products directly in these categories."""
        if not category_ids:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(np.isin(self.category, np.fromiter(category_ids, dtype=np.int64)))


class _State:
    lock = threading.Lock()
    snapshot: CatalogSnapshot | None = None
    fingerprint: str = ""
    checked_at: float = 0.0
    # As-of snapshots by (current version, the past clock): a replay serves thousands of
    # shoppers at one cut, and each build reads the availability history once.
    past: OrderedDict[tuple[str, float], CatalogSnapshot] = OrderedDict()
    past_lock = threading.Lock()  # its own: a replay's build never holds up a live rebuild


# A replay serves one cut at a time; a few kept cover a caller alternating between two.
PAST_SNAPSHOTS_KEPT = 4


def current_catalog(*, bumped: str | None = None) -> CatalogSnapshot:
    """This process's catalog snapshot, rebuilt first if the catalog changed since.

    ``bumped`` is the catalog version counter when the caller already read it (serving reads
    it in the same Redis round trip as the shopper's events); otherwise it is read here.
    """
    bumped = _bumped_version() if bumped is None else bumped
    state = _State
    now = time.monotonic()
    snapshot = state.snapshot
    stale_check = now - state.checked_at >= settings.SHELFWISE_CATALOG_CHECK_SECONDS
    if snapshot is not None and not stale_check and snapshot.version.startswith(f"{bumped}:"):
        return snapshot
    with state.lock:
        fingerprint = _fingerprint()
        state.checked_at = time.monotonic()
        version = f"{bumped}:{fingerprint}"
        if state.snapshot is None or state.snapshot.version != version:
            state.snapshot = _build(version)
        return state.snapshot


def checked_catalog() -> CatalogSnapshot:
    """The snapshot this process's serving just checked (a placement right after its
    ``recommend``: the same request), without another read of the version counter; checked
    afresh when there is none yet."""
    snapshot = _State.snapshot
    return snapshot if snapshot is not None else current_catalog()


def catalog_at(snapshot: CatalogSnapshot, *, now: datetime) -> CatalogSnapshot:
    """The catalogue a request at ``now`` is served from: ``snapshot`` itself for a live
    request (nothing extra), the catalogue as it stood at ``now`` for a past clock
    (``clock.replay_cutoff``).

    As it stood: each product's availability is its last recorded state at or before ``now``
    (``catalog.availability``); a product with no change recorded since keeps today's. A
    product sold out after a replay's cut was on sale at the cut, and is served there.
    """
    before = replay_cutoff(now)
    if before is None:
        return snapshot
    key = (snapshot.version, before.timestamp())
    with _State.past_lock:
        found = _State.past.get(key)
        if found is None:
            found = _as_of(snapshot, before)
            _State.past[key] = found
            while len(_State.past) > PAST_SNAPSHOTS_KEPT:
                _State.past.popitem(last=False)
        return found


def _as_of(snapshot: CatalogSnapshot, at: datetime) -> CatalogSnapshot:
    available = snapshot.available.copy()
    states = states_at(at=at)
    if states:
        pks = np.fromiter(states, dtype=np.int64, count=len(states))
        was = np.fromiter((a and s for a, s in states.values()), dtype=bool, count=len(states))
        rows = snapshot.rows_of(pks)
        available[rows[rows >= 0]] = was[rows >= 0]
    # Everything else is today's: prices, categories, promotions (their windows are checked
    # against the request's clock), cards (shared: a card does not depend on availability,
    # and a memo missing a product reads it). What callers derive may, so that starts afresh.
    return dataclasses.replace(
        snapshot,
        version=f"{snapshot.version}@{at.timestamp()!r}",
        available=available,
        derived={},
        as_of=at,
    )


def forget_catalog() -> None:
    """Drop this process's snapshots so the next request rebuilds them (tests)."""
    with _State.lock:
        _State.snapshot = None
        _State.checked_at = 0.0
    with _State.past_lock:
        _State.past.clear()


def _bumped_version() -> str:
    try:
        return catalog_version()
    except Exception:  # the fingerprint still catches changes
        return "0"


def _fingerprint_sql() -> str:
    """One query, plain SQL that PostgreSQL and SQLite (the embedded demo) both run.

    Products and promotions carry ``updated_at`` (every catalog service sets it, ``update()``
    included); memberships and the category tree have none, so a count and an id-weighted
    checksum of their foreign keys stand in.
    """
    tables = {
        "product": Product._meta.db_table,
        "promotion": Promotion._meta.db_table,
        "promoted_products": Promotion.products.through._meta.db_table,
        "promoted_categories": Promotion.categories.through._meta.db_table,
        "category": Category._meta.db_table,
    }
    return """
SELECT
  (SELECT count(*) FROM {product}), (SELECT max(updated_at) FROM {product}),
  (SELECT count(*) FROM {promotion}), (SELECT max(updated_at) FROM {promotion}),
  (SELECT count(*) FROM {promoted_products}),
  (SELECT coalesce(sum(id * 7 + product_id), 0) FROM {promoted_products}),
  (SELECT count(*) FROM {promoted_categories}),
  (SELECT coalesce(sum(id * 7 + category_id), 0) FROM {promoted_categories}),
  (SELECT count(*) FROM {category}),
  (SELECT coalesce(sum(id * 7 + coalesce(parent_id, 0)), 0) FROM {category})
""".format(**tables)


def _fingerprint() -> str:
    """A digest that moves whenever products, promotions or the category tree change."""
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql())
        parts = cursor.fetchone()
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _build(version: str) -> CatalogSnapshot:
    started = time.perf_counter()
    rows = list(
        Product.objects.order_by("id").values_list(
            "id",
            "is_active",
            "stock",
            "points_price",
            "category_id",
            "created_at",
            "price",
            "brand",
            "tags",
            "sku",
            "title",
        )
    )
    n = len(rows)
    pks = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    active = np.fromiter((r[1] for r in rows), dtype=bool, count=n)
    in_stock = np.fromiter((r[2] is None or r[2] > 0 for r in rows), dtype=bool, count=n)
    points = np.fromiter((r[3] or 0 for r in rows), dtype=np.int64, count=n)
    category = np.fromiter(
        (_NO_CATEGORY if r[4] is None else r[4] for r in rows), dtype=np.int64, count=n
    )
    created = np.fromiter((r[5].timestamp() for r in rows), dtype=np.float64, count=n)
    categories = list(Category.objects.values_list("id", "name", "parent_id"))
    snapshot = CatalogSnapshot(
        version=version,
        pks=pks,
        available=active & in_stock,
        points_price=points,
        category=category,
        created_at=created,
        category_names={c: name for c, name, _ in categories},
        category_parent={c: parent for c, _, parent in categories},
        promotions=[],
        attributes=ProductAttributes(
            price=np.fromiter((float(r[6]) for r in rows), dtype=np.float64, count=n),
            stock=np.fromiter(
                (np.nan if r[2] is None else r[2] for r in rows), dtype=np.float64, count=n
            ),
            brand=np.array([(r[7] or "").casefold() for r in rows], dtype=object),
            tags=[tuple(r[8] or ()) for r in rows],
        ),
        names=ProductNames(
            skus=np.array([r[9] for r in rows], dtype=object),
            titles=np.array([r[10] for r in rows], dtype=object),
        ),
    )
    snapshot.promotions = _promotions(snapshot)
    if n <= CARDS_KEPT:
        # Every recommendable card in one query now, rather than a query in each of the first
        # few hundred responses of every process (a tenth of their CPU while the memo fills).
        snapshot.card_memo.update(product_cards(pks[snapshot.available].tolist()))
    logger.info("Catalog snapshot %s: %d products in %.0f ms", version, n, _ms(started))
    return snapshot


def _promotions(snapshot: CatalogSnapshot) -> list[PromotionInfo]:
    """Switched-on promotions with the catalog rows each one covers.

    Ended ones too: the window is checked at request time against the request's ``now``
    (``active_promotions``), so the snapshot never depends on the clock at build time and a
    preview "as of" another moment (the demo check, a merchandiser's what-if) sees the same data.
    """
    live = Promotion.objects.filter(is_active=True)
    # The scope is catalog's (PromotionQuerySet.covering), read for all promotions at once.
    products = live.named_products()
    categories = live.covered_categories(tree=snapshot.tree)
    result = []
    for p in live:
        direct = snapshot.rows_of(np.asarray(products.get(p.pk, []), dtype=np.int64))
        via_category = snapshot._rows_in(categories.get(p.pk, set()))
        rows = np.union1d(direct[direct >= 0], via_category).astype(np.int64)
        result.append(
            PromotionInfo(
                id=p.pk,
                name=p.name,
                discount_percent=float(p.discount_percent),
                starts_at=p.starts_at,
                ends_at=p.ends_at,
                priority=p.priority,
                rows=rows,
            )
        )
    return result


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
