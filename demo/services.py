"""Build, dress and wipe the demo shop; every row it writes is marked as demo data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from behavior.models import EARLIEST_EVENT_TIME, Event, Shopper
from behavior.services import bulk_load_events, refresh_event_statistics
from behavior.summaries import refresh_event_summaries
from catalog.models import Category, Product, Promotion
from catalog.versioning import bump_catalog_version
from demo.availability import record_plan_history, record_stock_dressing
from demo.bulk_rows import insert_rows
from demo.draws import HISTORY_DAYS
from demo.experiment import delete_demo_experiments
from demo.rows import GENERAL, ShopPlan
from demo.stages import Stages
from demo.synthetic import plan_shop
from demo.verticals import catalog_of, picture_of
from recommender.models import Impression, TrainingRun
from recommender.training.services import run_training, start_training

# Markers that tell demo rows apart from a shop's own data (reset deletes only these).
SKU_PREFIX, SHOPPER_PREFIX, EVENT_PREFIX = "DEMO-", "demo-shopper-", "demo-"
CATEGORY_PREFIX, PROMOTION_PREFIX = "demo-", "[demo] "
DEMO_USERNAME, DEMO_PASSWORD = "merchandiser", "shelfwise-demo"
EVENT_BATCH = 5_000
# Seconds of per-shop tuning when the demo trains (the nightly default is longer).
DEMO_TUNING_SECONDS = 30.0

Progress = Callable[[Iterable, str, int], Iterable]


def _no_progress(items: Iterable, _label: str, _total: int) -> Iterable:
    return items


# (name, discount %, days from now it starts, length in days, departments, subcategories).
# Active, upcoming, expired and paused ones, so every promotion state shows in the dashboard.
DEMO_PROMOTIONS = (
    ("Kitchen Week", 20, -3, 7, (), ("Cookware", "Knives")),
    ("Headphones Deal", 15, -1, 10, (), ("Headphones",)),
    ("Garden Season", 10, -20, 45, ("Garden",), ()),
    ("Back to School", 25, 7, 14, ("Books & Stationery",), ()),
    ("Black Friday Preview", 30, 21, 4, ("Electronics",), ()),
    ("Spring Beauty", 20, -60, 30, ("Beauty",), ()),
    ("Fashion Clearance", 40, -19, 14, ("Fashion",), ()),
)
# The demo's timeline around ``now``: events from midnight HISTORY_DAYS before it (none may be
# older than ingestion accepts: training skips them, so the shop would train on nothing), and
# promotions ending up to DEMO_FUTURE after it (the paused one at +12), inside the calendar.
DEMO_FUTURE = timedelta(
    days=max(12, *(start + days for _n, _d, start, days, *_ in DEMO_PROMOTIONS))
)
EARLIEST_DEMO_NOW = EARLIEST_EVENT_TIME + timedelta(days=HISTORY_DAYS)
LATEST_DEMO_NOW = datetime(9999, 12, 31, tzinfo=UTC) - DEMO_FUTURE


def check_demo_time(*, now: datetime) -> None:
    """Raise ``ValueError`` unless the whole demo timeline around ``now`` can be built."""
    if not EARLIEST_DEMO_NOW <= now <= LATEST_DEMO_NOW:
        raise ValueError(
            f"the demo shop has {HISTORY_DAYS} days of events before it (none before "
            f"{EARLIEST_EVENT_TIME:%Y-%m-%d}, the earliest an event can be) and promotions up to "
            f"{DEMO_FUTURE.days} days after it, so it must be from {EARLIEST_DEMO_NOW.isoformat()}"
            f" to {LATEST_DEMO_NOW.isoformat()}"
        )


def build_demo_shop(
    *,
    seed: int,
    now: datetime,
    scale: float = 1.0,
    vertical: str = GENERAL,
    progress: Progress = _no_progress,
    stages: Stages | None = None,
) -> ShopPlan:
    """Store a whole synthetic shop for ``seed`` in one transaction: all of it or nothing.

    ``stages`` (if given) records the wall and CPU seconds of each step.
    """
    check_demo_time(now=now)
    stages = stages or Stages()
    stage = stages.stage
    with stage("draw the plan"):
        plan = plan_shop(seed=seed, now=now, scale=scale, vertical=vertical)
    tree = catalog_of(vertical)
    with transaction.atomic():
        with stage("categories"):
            categories = _create_categories(tree)
        with stage("products"):
            products = _create_products(plan, categories=categories, now=now)
        with stage("shoppers"):
            shoppers = _create_shoppers(plan, categories=categories)
        with stage("events (COPY)"):
            _create_events(plan, products=products, shoppers=shoppers, progress=progress)
        with stage("availability history"):
            record_plan_history(plan, products=products, now=now, seed=seed)
        with stage("summaries"):
            # A reset deleted events, which an incremental refresh cannot see: rewrite every day.
            refresh_event_summaries(now=timezone.now(), rebuild=True)
        with stage("promotions"):
            _create_promotions(categories=categories, departments=list(tree), now=now, seed=seed)
            # Bulk writes skip the catalog services: move the version as they do, so a serving
            # snapshot taken in this process (within its check interval) is not served again.
            bump_catalog_version()
    # The deferred foreign-key checks of every row written above run here.
    stages.since_last("commit")
    with stage("ANALYZE"):
        refresh_event_statistics()
    return plan


def _create_categories(tree: dict) -> dict[str, Category]:
    """Departments and their subcategories, keyed by name."""
    # ignore_conflicts: a reset keeps a demo category the shop's own rows still use, and the
    # rebuilt shop reuses it by slug instead of failing on the unique slug.
    departments = Category.objects.bulk_create(
        (Category(name=d, slug=f"{CATEGORY_PREFIX}{slugify(d)}") for d in tree),
        ignore_conflicts=True,
    )
    by_name = {c.name: Category.objects.get(slug=c.slug) for c in departments}
    Category.objects.bulk_create(
        (
            Category(
                name=sub, slug=f"{CATEGORY_PREFIX}{slugify(d)}-{slugify(sub)}", parent=by_name[d]
            )
            for d, subs in tree.items()
            for sub in subs
        ),
        ignore_conflicts=True,
    )
    for c in Category.objects.filter(slug__startswith=CATEGORY_PREFIX, parent__isnull=False):
        by_name[c.name] = c
    return by_name


def demo_image_url(*, department: str) -> str:
    """The demo's picture for a department: a small SVG shipped in static/ (no network)."""
    return f"{settings.STATIC_URL}img/demo/{slugify(department)}.svg"


# The product columns the demo writes, in the order of _create_products' rows.
PRODUCT_FIELDS = (
    "sku", "title", "description", "category", "brand", "price", "currency", "stock",
    "is_active", "points_price", "attributes", "image_url", "tags", "created_at", "updated_at",
)  # fmt: skip


def _create_products(plan: ShopPlan, *, categories: dict, now: datetime) -> list[int]:
    """Products in plan order; returns their primary keys in that order."""
    inserted = timezone.now()
    currency = Product._meta.get_field("currency").get_default()
    tags = Product._meta.get_field("tags").get_default

    def row(p) -> tuple:
        picture = demo_image_url(department=picture_of(plan.vertical, p.department))
        # created_at is the product's launch (new arrivals must look new), stored as given.
        launched = now - timedelta(days=p.launched_days_ago)
        return (
            p.sku, p.title, p.description, categories[p.subcategory].pk, p.brand,
            Decimal(f"{p.price:.2f}"), currency, p.stock, p.is_active, p.points_price,
            p.attributes, picture, tags(), launched, inserted,
        )  # fmt: skip

    insert_rows(Product, fields=PRODUCT_FIELDS, rows=map(row, plan.products))
    pk_of = dict(Product.objects.filter(sku__startswith=SKU_PREFIX).values_list("sku", "pk"))
    return [pk_of[p.sku] for p in plan.products]


def _create_shoppers(plan: ShopPlan, *, categories: dict) -> list[int]:
    """Shoppers in plan order with their declared interests; returns their primary keys."""
    inserted = timezone.now()
    insert_rows(
        Shopper,
        fields=("external_id", "country", "segment", "points_balance", "created_at"),
        rows=(
            (s.external_id, s.country, s.segment, s.points_balance, inserted) for s in plan.shoppers
        ),
    )
    pk_of = dict(
        Shopper.objects.filter(external_id__startswith=SHOPPER_PREFIX).values_list(
            "external_id", "pk"
        )
    )
    pks = [pk_of[s.external_id] for s in plan.shoppers]
    insert_rows(
        Shopper.interests.through,
        fields=("shopper", "category"),
        rows=(
            (pk, categories[name].pk)
            for pk, s in zip(pks, plan.shoppers, strict=True)
            for name in s.interests
        ),
    )
    return pks


def _create_events(plan: ShopPlan, *, products: list[int], shoppers: list[int], progress):
    """Store the plan's events through behavior's bulk load (one COPY on PostgreSQL).

    On PostgreSQL, ``executemany`` of one INSERT took 667 s for scale 30's 6M events; the COPY
    streams them and bumps the shoppers' versions.
    """
    ev = plan.events
    # Columns zipped in C rather than a Python loop indexing nine lists per event (~40 % of
    # the client's time for scale 30's 6M events).
    rows = zip(
        (f"{EVENT_PREFIX}{i:07d}" for i in range(1, len(ev) + 1)),
        map(shoppers.__getitem__, ev.shopper),
        (products[p] if p >= 0 else None for p in ev.product),
        ev.kind,
        ev.value,
        ev.query,
        ev.session_id,
        ev.order_id,
        ev.occurred_at,
        strict=True,
    )
    batches = range(0, len(ev), EVENT_BATCH)

    def in_batches() -> Iterator[tuple]:
        for _ in progress(batches, "events", len(batches)):
            yield from islice(rows, EVENT_BATCH)

    bulk_load_events(
        rows=in_batches(),
        received_at=timezone.now(),
        expected=len(ev),
    )


def _create_promotions(*, categories: dict, departments: list[str], now: datetime, seed: int):
    """The demo's promotions; in a vertical without a promotion's categories it covers one of
    the vertical's departments instead, so every promotion state still shows."""
    rng = np.random.default_rng(seed + 1)
    headphones = list(
        Product.objects.filter(sku__startswith=SKU_PREFIX, category=categories.get("Headphones"))
        .order_by("sku")
        .values_list("pk", flat=True)
    )
    for i, (name, discount, starts_in, days, on_departments, subcategories) in enumerate(
        DEMO_PROMOTIONS
    ):
        starts_at = now + timedelta(days=starts_in)
        promotion = Promotion.objects.create(
            name=f"{PROMOTION_PREFIX}{name}",
            discount_percent=Decimal(discount),
            starts_at=starts_at,
            ends_at=starts_at + timedelta(days=days),
            priority=len(DEMO_PROMOTIONS) - i,
        )
        targets = [categories[c] for c in (*on_departments, *subcategories) if c in categories]
        if name == "Headphones Deal" and headphones:
            # A product-level promotion (the others are category-level): a hand-picked dozen.
            picks = rng.choice(len(headphones), size=min(12, len(headphones)), replace=False)
            promotion.products.set([headphones[p] for p in sorted(picks)])
        else:
            promotion.categories.set(targets or [categories[departments[i % len(departments)]]])
    Promotion.objects.create(
        name=f"{PROMOTION_PREFIX}Paused Toy Sale",
        discount_percent=Decimal(15),
        starts_at=now - timedelta(days=2),
        ends_at=now + timedelta(days=12),
        is_active=False,
    ).categories.set([categories.get("Toys & Games") or categories[departments[-1]]])


def ensure_demo_login() -> tuple[str, str]:
    """The staff superuser the demo prints exists and its password is the documented one."""
    user, _ = get_user_model().objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "merchandiser@example.com"}
    )
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    return DEMO_USERNAME, DEMO_PASSWORD


def reset_demo_data() -> dict[str, int]:
    """Delete every demo-marked row (and nothing else); returns how many of each went."""
    with transaction.atomic():
        bump_catalog_version()
        deleted = {
            "events": Event.objects.filter(
                Q(event_id__startswith=EVENT_PREFIX)
                | Q(shopper__external_id__startswith=SHOPPER_PREFIX)
                | Q(product__sku__startswith=SKU_PREFIX)
            ).delete()[0],
            # The simulated traffic's responses (demo.simulation): to demo shoppers, or about
            # demo products.
            "impressions": Impression.objects.filter(
                Q(shopper__startswith=SHOPPER_PREFIX) | Q(product__startswith=SKU_PREFIX)
            ).delete()[0],
            "promotions": Promotion.objects.filter(name__startswith=PROMOTION_PREFIX).delete()[0],
            "experiments and placements": delete_demo_experiments(),
            "shoppers": Shopper.objects.filter(external_id__startswith=SHOPPER_PREFIX).delete()[0],
            "products": Product.objects.filter(sku__startswith=SKU_PREFIX).delete()[0],
        }
        deleted["categories"] = _delete_unused_demo_categories()
        # Points and sold-out stock the demo put on imported data (the Online Retail file has
        # neither of its own).
        dressed = list(
            Product.objects.filter(Q(attributes__demo_points=True) | Q(attributes__demo_stock=True))
        )
        restocked = []
        for product in dressed:
            if product.attributes.pop("demo_points", False):
                product.points_price = None
            if product.attributes.pop("demo_stock", False):
                product.stock = None
                restocked.append(product)
        record_stock_dressing(restocked, at=timezone.now(), sold_out=False)
        Product.objects.bulk_update(
            dressed, ["attributes", "points_price", "stock"], batch_size=500
        )
    return deleted


def _delete_unused_demo_categories() -> int:
    """Delete demo categories nothing of the shop's own uses, leaves first; returns how many.

    The shop's own rows may sit in a demo category (an import of ``Garden/Gnomes`` files Gnomes
    under the demo's Garden): a real subcategory would block the delete (``parent`` is
    PROTECT), and deleting under a real product, promotion or shopper interest would silently
    strip it, so such a demo category stays. The demo rows that used it are gone by now.
    """
    unused = Category.objects.filter(
        slug__startswith=CATEGORY_PREFIX,
        children__isnull=True,
        products__isnull=True,
        promotions__isnull=True,
        interested_shoppers__isnull=True,
    )
    deleted = 0
    # Each pass removes the current leaves, which may free their parents for the next one.
    while ids := list(unused.values_list("pk", flat=True).distinct()):
        deleted += Category.objects.filter(pk__in=ids).delete()[0]
    return deleted


def dress_imported_shop(*, seed: int, now: datetime) -> dict[str, int]:
    """Add seeded demo promotions, loyalty points and sold-out stock to an imported shop."""
    check_demo_time(now=now)
    rng = np.random.default_rng(seed)
    with transaction.atomic():
        bump_catalog_version()
        products = list(Product.objects.filter(price__gt=0).order_by("pk"))
        if not products:
            raise ValueError("The imported shop has no priced products to dress.")
        categories = list(Category.objects.order_by("pk"))
        for name, discount, starts_in, days, *_ in DEMO_PROMOTIONS:
            starts_at = now + timedelta(days=starts_in)
            promotion = Promotion.objects.create(
                name=f"{PROMOTION_PREFIX}{name}",
                discount_percent=Decimal(discount),
                starts_at=starts_at,
                ends_at=starts_at + timedelta(days=days),
            )
            if categories:
                promotion.categories.set([categories[int(rng.integers(len(categories)))]])
            picks = rng.choice(len(products), size=min(25, len(products)), replace=False)
            promotion.products.add(*(products[p] for p in sorted(picks)))
        # A fifth become redeemable at 100 points per pound (rounded to 10), and one in twenty
        # sold out when the file tracks no stock, so the points and in-stock rules both show.
        redeemable = [p for p in products if rng.random() < 0.2]
        for product in redeemable:
            product.points_price = max(10, round(float(product.price) * 10) * 10)
            product.attributes = {**product.attributes, "demo_points": True}
        sold_out = [p for p in products if rng.random() < 0.05 and p.stock is None]
        for product in sold_out:
            product.stock = 0
            product.attributes = {**product.attributes, "demo_stock": True}
        # Sold out at the build's time, after every purchase in the file.
        record_stock_dressing(sold_out, at=now, sold_out=True)
        Product.objects.bulk_update(
            {p.pk: p for p in redeemable + sold_out}.values(),
            ["points_price", "stock", "attributes"],
            batch_size=500,
        )
        shoppers = list(Shopper.objects.order_by("pk"))
        for shopper in shoppers:
            holds_points = rng.random() > 0.33
            shopper.points_balance = int(rng.lognormal(np.log(900), 0.9)) if holds_points else 0
        Shopper.objects.bulk_update(shoppers, ["points_balance"], batch_size=1_000)
    return {
        "promotions": len(DEMO_PROMOTIONS),
        "redeemable products": len(redeemable),
        "sold-out products": len(sold_out),
        "shoppers": len(shoppers),
    }


def train_demo_models(*, retrain: bool) -> TrainingRun:
    """Train the recommenders in-process once the shop exists.

    Returns the finished TrainingRun (succeeded or failed, with its error recorded). Without
    ``retrain`` an existing successful run is reused, so re-running the demo starts fast.
    """
    done = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).order_by("-pk").first()
    if done is not None and not retrain:
        return done
    # Run it here rather than through the queue: the demo must show trained models when it
    # starts serving, with or without a Celery worker.
    # A short search: the demo's shop is small, and whoever runs the demo is waiting.
    run = start_training(
        triggered_by=TrainingRun.Trigger.COMMAND,
        enqueue=False,
        tuning_budget_seconds=min(settings.SHELFWISE_TUNING_BUDGET_SECONDS, DEMO_TUNING_SECONDS),
    )
    return run_training(run_id=run.pk)
