"""A synthetic shop drawn from a seeded numpy Generator: catalog, shoppers and their events.

Plain Python and numpy, no Django: ``plan_shop`` returns rows that ``demo.services`` stores.
The same seed, scale and ``now`` always give the same plan, row for row.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime

import numpy as np

from demo import draws
from demo.draws import (
    HISTORY_DAYS,
    history_calendar,
    to_datetimes,
    uniforms,
    weighted_pools,
)
from demo.rows import GENERAL, EventColumns, ProductRow, ShopperRow, ShopPlan

# department -> {subcategory: (median price in GBP, product nouns)}
CATALOG_TREE: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {
    "Home & Kitchen": {
        "Mugs & Cups": (9.0, ("Mug", "Espresso Cup", "Travel Mug", "Teacup Set")),
        "Cookware": (38.0, ("Frying Pan", "Saucepan", "Casserole Dish", "Wok")),
        "Knives": (42.0, ("Chef's Knife", "Paring Knife", "Bread Knife", "Knife Block")),
        "Bedding": (45.0, ("Duvet Cover", "Pillowcase Pair", "Throw", "Fitted Sheet")),
        "Lighting": (32.0, ("Table Lamp", "Floor Lamp", "Pendant Shade", "Fairy Lights")),
    },
    "Fashion": {
        "T-Shirts": (18.0, ("T-Shirt", "Polo Shirt", "Long-Sleeve Top")),
        "Jeans": (55.0, ("Slim Jeans", "Straight Jeans", "Denim Shorts")),
        "Dresses": (60.0, ("Midi Dress", "Wrap Dress", "Shirt Dress")),
        "Shoes": (75.0, ("Trainers", "Loafers", "Ankle Boots", "Sandals")),
        "Bags": (48.0, ("Tote Bag", "Backpack", "Crossbody Bag")),
    },
    "Electronics": {
        "Headphones": (65.0, ("Wireless Earbuds", "Over-Ear Headphones", "Sports Earphones")),
        "Phone Accessories": (16.0, ("Phone Case", "USB-C Charger", "Power Bank", "Cable")),
        "Laptops": (780.0, ("Ultrabook", "Laptop", "2-in-1 Laptop")),
        "Smart Home": (85.0, ("Smart Speaker", "Smart Plug", "Video Doorbell", "Thermostat")),
        "Cameras": (420.0, ("Mirrorless Camera", "Action Camera", "Camera Lens")),
    },
    "Sports & Outdoors": {
        "Running": (62.0, ("Running Shoes", "Running Jacket", "Running Belt")),
        "Yoga": (26.0, ("Yoga Mat", "Yoga Block", "Yoga Leggings")),
        "Cycling": (95.0, ("Bike Helmet", "Bike Light Set", "Cycling Gloves", "Bike Lock")),
        "Camping": (70.0, ("Tent", "Sleeping Bag", "Camping Stove", "Head Torch")),
    },
    "Beauty": {
        "Skincare": (21.0, ("Moisturiser", "Face Serum", "Cleanser", "Sun Cream")),
        "Haircare": (12.0, ("Shampoo", "Conditioner", "Hair Oil")),
        "Fragrance": (58.0, ("Eau de Parfum", "Eau de Toilette", "Body Mist")),
        "Makeup": (16.0, ("Lipstick", "Mascara", "Foundation", "Eyeshadow Palette")),
    },
    "Toys & Games": {
        "Board Games": (29.0, ("Strategy Game", "Family Board Game", "Card Game")),
        "Puzzles": (15.0, ("Jigsaw Puzzle", "3D Puzzle", "Brain Teaser")),
        "Building Sets": (45.0, ("Building Set", "Construction Kit", "Marble Run")),
        "Plush Toys": (18.0, ("Teddy Bear", "Plush Fox", "Plush Dinosaur")),
    },
    "Books & Stationery": {
        "Fiction": (10.0, ("Novel", "Short Stories", "Crime Thriller")),
        "Cookbooks": (22.0, ("Cookbook", "Baking Book", "Vegetarian Cookbook")),
        "Notebooks": (9.0, ("Notebook", "Journal", "Sketchbook", "Planner")),
        "Pens": (7.0, ("Fountain Pen", "Gel Pen Set", "Fineliner Set")),
    },
    "Garden": {
        "Plants": (16.0, ("Olive Tree", "Lavender Pot", "Herb Kit", "Succulent Trio")),
        "Garden Tools": (27.0, ("Pruning Shears", "Trowel", "Watering Can", "Hose Reel")),
        "Outdoor Furniture": (190.0, ("Bistro Set", "Sun Lounger", "Garden Bench")),
        "BBQ": (125.0, ("Charcoal BBQ", "Gas BBQ", "BBQ Tool Set")),
    },
}
BRANDS: dict[str, tuple[str, ...]] = {
    "Home & Kitchen": ("Hearthly", "Northwind Home", "Copperleaf", "Oak & Ember", "Lumo"),
    "Fashion": ("Marlowe", "Indigo Row", "Fernhill", "Tessellate", "Arden & Co"),
    "Electronics": ("Voltra", "Sonique", "Pixelforge", "Nimbus", "Kestrel"),
    "Sports & Outdoors": ("Trailborn", "Stridewell", "Peakline", "Zenflow", "Velocita"),
    "Beauty": ("Bloomwell", "Luma Skin", "Verdant", "Saffron & Sage", "Glowhaus"),
    "Toys & Games": ("Tinkertown", "Meeple Hall", "Brightblocks", "Cuddle Co", "Puzzlewick"),
    "Books & Stationery": ("Inkwell", "Paperfox", "Quire", "Larkspur Press", "Nib & Co"),
    "Garden": ("Greenhaven", "Rootstock", "Sunporch", "Briar & Bloom", "Emberline"),
}
ADJECTIVES = (
    "Classic", "Essential", "Premium", "Compact", "Vintage", "Modern",
    "Everyday", "Deluxe", "Organic", "Signature", "Lightweight", "Nordic",
)  # fmt: skip
COLOURS = ("Black", "White", "Navy", "Sage", "Terracotta", "Grey", "Mustard", "Blush", "Oat")
# (ISO country code, share of shoppers); every country must end up with shoppers (the check
# asks). Stored as codes, shown by name.
COUNTRIES = (
    ("GB", 0.42), ("DE", 0.16), ("FR", 0.13), ("NL", 0.09), ("ES", 0.08), ("IE", 0.07),
    ("IT", 0.05),
)  # fmt: skip
SEGMENTS = (("regular", 0.55), ("new", 0.2), ("vip", 0.1), ("bargain", 0.1), ("wholesale", 0.05))

BASE_PRODUCTS, BASE_SHOPPERS, BASE_EVENTS = 2_000, 5_000, 200_000


def plan_shop(*, seed: int, now: datetime, scale: float = 1.0, vertical: str = GENERAL) -> ShopPlan:
    """Draw a whole shop; the same (seed, now, scale, vertical) always gives the same plan.

    ``vertical`` is the general shop (every department) or one of ``demo.verticals.VERTICALS``.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if vertical != GENERAL:
        from demo.verticals import plan_vertical  # it builds on this module's helpers

        return plan_vertical(seed=seed, now=now, scale=scale, vertical=vertical)
    rng = np.random.default_rng(seed)
    sizes = planned_sizes(scale)
    products = plan_products(rng, n=sizes["products"])
    shoppers = plan_shoppers(rng, n=sizes["shoppers"])
    events = _plan_events(rng, products, shoppers, now=now, target=sizes["events"])
    return ShopPlan(products=products, shoppers=shoppers, events=events)


# The event kinds the planners draw (here and in shop.verticals); the demo check expects each.
# A kind new in behavior/kinds.py stays out of the demo until a planner draws it.
PLANNED_KINDS = ("view", "search", "add_to_cart", "purchase", "rating")


def planned_sizes(scale: float) -> dict[str, int]:
    """How many products, shoppers and events (a target) a shop of this scale has."""
    return {
        "products": max(40, round(BASE_PRODUCTS * scale)),
        "shoppers": max(len(COUNTRIES) * 4, round(BASE_SHOPPERS * scale)),
        "events": max(500, round(BASE_EVENTS * scale)),
    }


def plan_products(
    rng: np.random.Generator, *, n: int, tree: dict = CATALOG_TREE, brands: dict = BRANDS
) -> list[ProductRow]:
    leaves = [(d, s, spec) for d, subs in tree.items() for s, spec in subs.items()]
    leaf_of = rng.integers(len(leaves), size=n)
    rows = []
    for i, leaf in enumerate(leaf_of):
        department, sub, (median, nouns) = leaves[leaf]
        brand = brands[department][rng.integers(len(brands[department]))]
        adjective = ADJECTIVES[rng.integers(len(ADJECTIVES))]
        noun = nouns[rng.integers(len(nouns))]
        colour = COLOURS[rng.integers(len(COLOURS))]
        # Prices within a category are log-normal around its median, ending in .99 or .49.
        price = max(0.99, np.floor(median * rng.lognormal(0.0, 0.45)) + rng.choice([0.49, 0.99]))
        u = rng.random()
        # ~15% not stock-tracked (None), ~7% sold out, the rest a skewed stock level.
        stock = None if u < 0.15 else 0 if u < 0.22 else int(rng.geometric(1 / 40))
        # Loyalty points: a quarter of the affordable range, 100 points per pound, rounded to 50.
        points = None
        if price < 150 and rng.random() < 0.25:
            points = max(50, round(float(price) * 2) * 50)
        # 4% are new arrivals launched in the last 3 weeks; the rest predate the history.
        new = rng.random() < 0.04 or i == n - 1  # at least one, whatever the scale
        launched = int(rng.integers(0, 21)) if new else int(rng.integers(HISTORY_DAYS, 720))
        rows.append(
            ProductRow(
                sku=f"DEMO-{i + 1:05d}",
                title=f"{brand} {adjective} {noun}",
                description=(
                    f"{adjective} {noun.lower()} from {brand} in {colour.lower()}. "
                    f"Part of our {sub.lower()} range in {department}."
                ),
                department=department,
                subcategory=sub,
                brand=brand,
                price=round(float(price), 2),
                stock=stock,
                is_active=bool(rng.random() > 0.02),
                points_price=points,
                attributes={"colour": colour},
                launched_days_ago=launched,
            )
        )
    return rows


def plan_shoppers(
    rng: np.random.Generator, *, n: int, tree: dict = CATALOG_TREE
) -> list[ShopperRow]:
    names, shares = zip(*COUNTRIES, strict=True)
    # The first shoppers cover every country once, so small scales still have them all.
    country = np.concatenate(
        [np.arange(len(names)), rng.choice(len(names), size=n - len(names), p=shares)]
    )
    seg_names, seg_shares = zip(*SEGMENTS, strict=True)
    segment = rng.choice(len(seg_names), size=n, p=seg_shares)
    departments = list(tree)
    rows = []
    for i in range(n):
        seg = seg_names[segment[i]]
        # A third hold no points; the rest a log-normal balance, VIPs about three times more.
        balance = 0
        if rng.random() > 0.33:
            balance = int(rng.lognormal(np.log(900 if seg != "vip" else 2700), 0.9))
        interests: tuple[str, ...] = ()
        if rng.random() < 0.7:
            picks = rng.choice(len(departments), size=int(rng.integers(1, 4)), replace=False)
            interests = tuple(departments[p] for p in sorted(picks))
        rows.append(
            ShopperRow(
                external_id=f"demo-shopper-{i + 1:05d}",
                country=names[country[i]],
                segment=seg,
                points_balance=balance,
                interests=interests,
            )
        )
    return rows


def _plan_events(rng, products, shoppers, *, now: datetime, target: int) -> EventColumns:
    u = uniforms(rng).__next__
    departments = list(CATALOG_TREE)
    dept_index = {d: i for i, d in enumerate(departments)}
    # Zipf popularity: the product at popularity rank r is drawn with weight 1 / r^1.1.
    rank = rng.permutation(len(products)) + 1
    weight = 1.0 / rank**1.1
    pools = weighted_pools(weight, [dept_index[p.department] for p in products])
    subs = sorted({(p.department, p.subcategory) for p in products})
    sub_of = [subs.index((p.department, p.subcategory)) for p in products]
    sub_pools = weighted_pools(weight, sub_of)

    # Category affinity per shopper: a Dirichlet draw concentrated on declared interests
    # (shoppers without any still have tastes, just undeclared ones).
    alpha = np.full((len(shoppers), len(departments)), 0.35)
    for s, shopper in enumerate(shoppers):
        for d in shopper.interests:
            alpha[s, dept_index[d]] += 3.0
    affinity = rng.gamma(alpha)
    affinity_cdf = (np.cumsum(affinity, axis=1) / affinity.sum(axis=1, keepdims=True)).tolist()
    # Heavy-tailed activity; a tenth of shoppers have no history (cold start).
    activity = rng.lognormal(0.0, 1.0, size=len(shoppers))
    activity[rng.random(len(shoppers)) < 0.1] = 0.0
    shopper_cdf = (np.cumsum(activity) / activity.sum()).tolist()

    calendar = history_calendar(now=now, products=products, growth=True)
    start, horizon, launched = calendar.start, calendar.horizon, calendar.launched
    day_cdf, hour_cdf, rating_cdf = calendar.day_cdf, calendar.hour_cdf, calendar.rating_cdf

    # The loop below is the planner's hot path (~2M iterations at scale 10): local names, cdfs
    # ending in +inf (so a bisect needs no clamp) and appends to local lists, not method calls.
    # Each draw still takes the same uniforms in the same order, so a seed gives the same shop.
    for cdf in (shopper_cdf, day_cdf, hour_cdf, rating_cdf, *affinity_cdf):
        cdf[-1] = math.inf
    for _members, cdf in (*pools, *sub_pools):
        if cdf:
            cdf[-1] = math.inf
    bisect, ln_fail, tick = bisect_right, math.log(1.0 - 0.3), draws.tick
    log, quantity = math.log, draws.quantity
    events = EventColumns()
    e_shopper, e_product, e_kind, e_value = (
        events.shopper,
        events.product,
        events.kind,
        events.value,
    )
    e_query, e_session, e_order, e_at = (
        events.query,
        events.session_id,
        events.order_id,
        events.occurred_at,
    )

    def add(s, product, kind, at, value=1.0, query="", session="", order=""):
        e_shopper.append(s)
        e_product.append(product)
        e_kind.append(kind)
        e_value.append(value)
        e_query.append(query)
        e_session.append(session)
        e_order.append(order)
        e_at.append(at)

    def draw(pool, x):
        members, cdf = pool
        return members[bisect(cdf, x)] if members else -1

    bought: dict[int, list[int]] = {}
    session = orders = 0
    while len(e_kind) < target:
        s = bisect(shopper_cdf, u())
        t = 86400.0 * bisect(day_cdf, u()) + 3600.0 * bisect(hour_cdf, u()) + 3600.0 * u()
        dept = bisect(affinity_cdf[s], u())
        current = draw(pools[dept], u())
        if t >= horizon or current < 0 or launched[current] > t:
            continue
        session += 1
        sid = f"demo-s{session:06d}"
        if bought.get(s) and u() < 0.08:
            # A repeat purchase: the shopper comes straight back for something bought before.
            again = bought[s][int(u() * len(bought[s]))]
            orders += 1
            add(s, again, "view", t, session=sid)
            t = tick(t, u())
            add(s, again, "add_to_cart", t, session=sid)
            t = tick(t, u())
            add(s, again, "purchase", t, session=sid, order=f"DEMO-O{orders:06d}")
            continue
        if u() < 0.3:
            # The query is what a shopper would type: a couple of words of the title.
            words = products[current].title.lower().split()[1:]
            query = " ".join(words[-2:]) if u() < 0.6 else words[-1]
            add(s, -1, "search", t, query=query, session=sid)
            t = tick(t, u())
        cart: list[int] = []
        # min(12, geometric(0.3, x)) inlined: the same inverse-CDF draw.
        for _ in range(min(12, 1 + int(log(1.0 - u()) / ln_fail))):
            add(s, current, "view", t, session=sid)
            t = tick(t, u())
            if u() < 0.22 and current not in cart:
                qty = quantity(u())
                add(s, current, "add_to_cart", t, value=qty, session=sid)
                cart.append(current)
                t = tick(t, u())
            # Browsing mostly stays within the subcategory, sometimes wanders the department.
            pool = sub_pools[sub_of[current]] if u() < 0.6 else pools[dept]
            nxt = draw(pool, u())
            if nxt >= 0 and launched[nxt] <= t:
                current = nxt
        if cart and u() < 0.45:
            orders += 1
            for item in cart:
                if u() < 0.85:
                    add(
                        s, item, "purchase", t, value=quantity(u()),
                        session=sid, order=f"DEMO-O{orders:06d}",
                    )  # fmt: skip
                    bought.setdefault(s, []).append(item)
                    if u() < 0.15:
                        rated = t + 86400.0 * (1 + 9 * u())
                        add(s, item, "rating", rated, value=bisect(rating_cdf, u()) + 1.0)
    to_datetimes(events, start=start, horizon=horizon)
    return events
