"""Read the demo shop: does it exist, what does it hold, and does it show every slot."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q

from behavior.countries import country_name
from behavior.models import Event, EventKind, Shopper
from catalog.models import Category, Product, Promotion
from demo.services import EVENT_PREFIX, PROMOTION_PREFIX, SKU_PREFIX
from demo.synthetic import COUNTRIES, GENERAL, PLANNED_KINDS, planned_sizes
from demo.verticals import catalog_of
from recommender.serving.registry import all_slots
from recommender.serving.service import recommend


def demo_shop_exists() -> bool:
    return Product.objects.filter(sku__startswith=SKU_PREFIX).exists()


def dressed_shop_exists() -> bool:
    """An imported shop the demo already dressed with its promotions and points."""
    return (
        Promotion.objects.filter(name__startswith=PROMOTION_PREFIX).exists()
        and Event.objects.exclude(event_id__startswith=EVENT_PREFIX).exists()
    )


def shop_counts(*, now: datetime) -> dict[str, int]:
    """The figures the demo summary prints."""
    redeemable = Product.objects.available().filter(points_price__isnull=False)
    cheapest = redeemable.aggregate(m=Min("points_price"))["m"]
    return {
        "categories": Category.objects.count(),
        "products": Product.objects.count(),
        "available products": Product.objects.available().count(),
        "out-of-stock products": Product.objects.filter(stock=0).count(),
        "redeemable products": redeemable.count(),
        "shoppers": Shopper.objects.count(),
        "shoppers who can redeem": (
            Shopper.objects.filter(points_balance__gte=cheapest).count() if cheapest else 0
        ),
        "shoppers without history": Shopper.objects.filter(events__isnull=True).count(),
        "countries": Shopper.objects.exclude(country="").values("country").distinct().count(),
        "events": Event.objects.count(),
        **{f"{kind} events": n for kind, n in _events_by_kind().items()},
        "active promotions": Promotion.objects.active(at=now).count(),
        "upcoming promotions": Promotion.objects.upcoming(at=now).count(),
        "expired promotions": Promotion.objects.expired(at=now).count(),
    }


def _events_by_kind() -> dict[str, int]:
    rows = Event.objects.values("kind").annotate(n=Count("id"))
    found = {r["kind"]: r["n"] for r in rows}
    return {kind: found.get(kind, 0) for kind in EventKind.values}


def shop_problems(
    *, now: datetime, synthetic: bool, scale: float = 1.0, vertical: str = GENERAL
) -> list[str]:
    """Everything missing for the demo to show each slot; empty when the shop is complete."""
    counts = shop_counts(now=now)
    problems = [
        f"no {what}"
        for what in (
            "active promotions",
            "upcoming promotions",
            "expired promotions",
            "out-of-stock products",
            "available products",
            "redeemable products",
            "shoppers who can redeem",
        )
        if not counts[what]
    ]
    if not _promoted_products_available(now=now):
        problems.append("no available product in an active promotion")
    if Event.objects.filter(occurred_at__gt=now).exists():
        problems.append("events dated in the future")
    if synthetic:
        problems += _synthetic_problems(counts, now=now, scale=scale, tree=catalog_of(vertical))
    return problems


def _synthetic_problems(
    counts: dict[str, int], *, now: datetime, scale: float, tree: dict
) -> list[str]:
    problems = []
    for what, size in planned_sizes(scale).items():
        low, high = round(0.9 * size), round(1.1 * size)
        if not low <= counts[what] <= high:
            problems.append(f"{counts[what]} {what}, expected {low}–{high}")
    leaves = sum(len(subs) for subs in tree.values())
    if counts["categories"] < len(tree) + leaves:
        problems.append(f"{counts['categories']} categories, expected {len(tree) + leaves}")
    present = set(Shopper.objects.values_list("country", flat=True).distinct())
    problems += [f"no shoppers in {country_name(c)}" for c, _ in COUNTRIES if c not in present]
    problems += [f"no {kind} events" for kind in PLANNED_KINDS if not counts[f"{kind} events"]]
    if not counts["shoppers without history"]:
        problems.append("no cold-start shoppers (shoppers without history)")
    if not Product.objects.filter(created_at__gte=now - timedelta(days=30)).exists():
        problems.append("no new arrivals (products created in the last 30 days)")
    if Event.objects.filter(occurred_at__lt=now - timedelta(days=92)).exists():
        problems.append("events older than the 90-day history")
    return problems


def _promoted_products_available(*, now: datetime) -> bool:
    active = Promotion.objects.active(at=now)
    categories = set(active.values_list("categories", flat=True)) - {None}
    # Category promotions include sub-categories; the demo tree is two levels deep.
    categories |= set(Category.objects.filter(parent__in=categories).values_list("pk", flat=True))
    return (
        Product.objects.available()
        .filter(Q(promotions__in=active) | Q(category__in=categories))
        .exists()
    )


def shop_fingerprint() -> str:
    """A hash of every product, shopper and event as stored: equal shops, equal fingerprints."""
    digest = hashlib.sha256()
    event_fields = (
        "event_id", "shopper__external_id", "product__sku", "kind", "value", "query",
        "session_id", "order_id", "occurred_at",
    )  # fmt: skip
    for rows in (
        Product.objects.order_by("sku").values_list(
            "sku", "title", "category__slug", "brand", "price", "stock", "points_price"
        ),
        Shopper.objects.order_by("external_id").values_list(
            "external_id", "country", "segment", "points_balance"
        ),
        Event.objects.order_by("event_id").values_list(*event_fields),
    ):
        for row in rows.iterator(chunk_size=5_000):
            digest.update(repr(row).encode())
    return digest.hexdigest()[:16]


def slot_problems(*, now: datetime) -> list[str]:
    """Every slot asked for a regular and a brand-new shopper: what raised or came back empty."""
    cheapest = (
        Product.objects.available()
        .filter(points_price__isnull=False)
        .aggregate(m=Min("points_price"))["m"]
    )
    # Someone who bought a product still available: buy again is empty by design (and says
    # why) for a shopper whose only purchases sold out since.
    regular = (
        Shopper.objects.filter(
            events__kind=EventKind.PURCHASE,
            events__product__in=Product.objects.available(),
            points_balance__gte=cheapest or 0,
        )
        .order_by("external_id")
        .first()
    )
    slots = all_slots()
    # A brand-new shopper has no points nor purchases: the slots declared may-be-empty are.
    new_may_be_empty = {slot.name for slot in slots if slot.may_be_empty}
    askers = [("a brand-new shopper", "demo-never-seen-shopper", new_may_be_empty)]
    if regular is not None:
        askers.insert(0, (f"shopper {regular.external_id}", regular, set()))
    problems = []
    for label, shopper, may_be_empty in askers:
        for slot in (declared.name for declared in slots):
            try:
                result = recommend(shopper=shopper, slot=slot, k=10, now=now)
            # Any error is a finding: it is reported, and the check then exits non-zero.
            except Exception as error:
                problems.append(f"slot {slot} for {label} raised {type(error).__name__}: {error}")
                continue
            if not result.items and slot not in may_be_empty:
                problems.append(f"slot {slot} is empty for {label}")
    return problems


def shopper_tastes(*, external_ids: list[str]) -> dict[str, frozenset[str]]:
    """External id → the category slugs in the shopper's planted taste: their declared
    interests and those categories' subcategories (the traffic simulator's ``match``)."""
    children: dict[int, list[str]] = {}
    for parent, slug in Category.objects.filter(parent__isnull=False).values_list(
        "parent_id", "slug"
    ):
        children.setdefault(parent, []).append(slug)
    tastes: dict[str, set[str]] = {}
    interests = Shopper.interests.through.objects.filter(shopper__external_id__in=external_ids)
    for external_id, category, slug in interests.values_list(
        "shopper__external_id", "category_id", "category__slug"
    ):
        tastes.setdefault(external_id, set()).update([slug, *children.get(category, [])])
    return {external_id: frozenset(slugs) for external_id, slugs in tastes.items()}


def simulated_shoppers(*, count: int, seed: int) -> list[str]:
    """``count`` shoppers' external ids drawn with ``seed`` (the same shop gives the same)."""
    ids = list(Shopper.objects.order_by("pk").values_list("external_id", flat=True))
    return random.Random(seed).sample(ids, min(count, len(ids)))
