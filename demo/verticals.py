"""Synthetic shops of one vertical with planted structure, so tests know the right answers.

Each vertical is a small declarative profile: a catalog tree, brands grouped into latent taste
groups (a product's taste is its brand's), a popularity skew, co-purchase bundles (phone + case
+ charger) and, for grocery, staples re-bought weekly. ``plan_vertical`` draws a ``ShopPlan``
like the general shop's and keeps what it planted in ``plan.truth``. Plain Python and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from demo.draws import (
    HISTORY_DAYS,
    draw,
    geometric,
    history_calendar,
    pick,
    quantity,
    tick,
    to_datetimes,
    uniforms,
    weighted_pools,
)
from demo.rows import GENERAL, EventColumns, ShopPlan
from demo.synthetic import CATALOG_TREE, plan_products, plan_shoppers, planned_sizes


@dataclass(frozen=True)
class Vertical:
    name: str
    # department -> {subcategory: (median price in GBP, product nouns)}; names are unique.
    catalog: dict[str, dict[str, tuple[float, tuple[str, ...]]]]
    tastes: dict[str, tuple[str, ...]]  # latent taste group -> its brands
    zipf: float  # popularity skew: the product at rank r is drawn with weight 1 / r^zipf
    bundles: tuple[tuple[str, ...], ...]  # subcategories whose products are bought together
    repeat_rate: float = 0.03  # share of sessions that re-buy something bought before
    staples: tuple[str, ...] = ()  # subcategories regulars re-buy every ``cadence_days``
    cadence_days: int = 7
    picture: str = "Home & Kitchen"  # the general shop's department whose demo picture it uses
    taste_loyalty: float = 0.85  # share of a shopper's sessions inside their taste group


@dataclass(frozen=True)
class PlantedTruth:
    """What the plan planted, as indices into ``plan.products`` and ``plan.shoppers``."""

    tastes: tuple[str, ...]
    product_taste: list[int]
    shopper_taste: list[int]
    bundles: list[tuple[int, ...]]  # each bundle's products, one per bundled subcategory
    staples: dict[int, tuple[int, ...]] = field(default_factory=dict)  # regular -> products


VERTICALS: dict[str, Vertical] = {
    v.name: v
    for v in (
        Vertical(
            name="fashion",
            catalog={
                "Womenswear": {
                    "Dresses": (60.0, ("Midi Dress", "Wrap Dress", "Shirt Dress")),
                    "Tops": (24.0, ("Blouse", "Knit Top", "Camisole")),
                    "Skirts": (38.0, ("Pleated Skirt", "Denim Skirt", "Midi Skirt")),
                },
                "Menswear": {
                    "Shirts": (35.0, ("Oxford Shirt", "Linen Shirt", "Overshirt")),
                    "Trousers": (45.0, ("Chinos", "Cargo Trousers", "Slim Jeans")),
                    "Knitwear": (50.0, ("Crew Jumper", "Cardigan", "Fleece")),
                },
                "Footwear": {
                    "Trainers": (70.0, ("Trainers", "High-Tops", "Runners")),
                    "Boots": (95.0, ("Chelsea Boots", "Hiking Boots", "Ankle Boots")),
                    "Sandals": (35.0, ("Sliders", "Strappy Sandals", "Trek Sandals")),
                },
                "Accessories": {
                    "Bags": (48.0, ("Tote Bag", "Backpack", "Crossbody Bag")),
                    "Belts": (22.0, ("Leather Belt", "Webbing Belt", "Woven Belt")),
                    "Scarves": (20.0, ("Wool Scarf", "Silk Scarf", "Snood")),
                },
            },
            tastes={
                "Classic": ("Marlowe", "Arden & Co"),
                "Streetwear": ("Indigo Row", "Tessellate"),
                "Outdoor": ("Fernhill", "Peakline"),
            },
            zipf=0.9,
            bundles=(("Dresses", "Sandals", "Bags"), ("Trousers", "Shirts", "Belts")),
            repeat_rate=0.02,
            picture="Fashion",
        ),
        Vertical(
            name="grocery",
            catalog={
                "Fresh": {
                    "Fruit & Veg": (1.8, ("Bananas", "Apples", "Spinach", "Tomatoes")),
                    "Dairy & Eggs": (1.6, ("Milk", "Free-Range Eggs", "Yoghurt", "Cheddar")),
                    "Bakery": (1.5, ("Sourdough Loaf", "Croissants", "Bagels")),
                },
                "Cupboard": {
                    "Pasta & Rice": (1.4, ("Spaghetti", "Penne", "Basmati Rice")),
                    "Sauces": (2.2, ("Tomato Sauce", "Pesto", "Curry Paste")),
                    "Breakfast": (3.0, ("Granola", "Porridge Oats", "Cornflakes")),
                },
                "Drinks": {
                    "Coffee & Tea": (4.5, ("Ground Coffee", "Tea Bags", "Coffee Beans")),
                    "Soft Drinks": (2.0, ("Sparkling Water", "Orange Juice", "Lemonade")),
                },
                "Household": {
                    "Cleaning": (3.0, ("Washing-Up Liquid", "Surface Spray", "Sponges")),
                    "Paper": (4.0, ("Kitchen Roll", "Toilet Roll", "Tissues")),
                },
            },
            tastes={
                "Plant-based": ("Verdant Farm", "Green Table"),
                "Family": ("Hearthly Foods", "Brightbasket"),
                "Gourmet": ("Copperleaf Deli", "Maison Lumo"),
            },
            zipf=1.0,
            bundles=(("Pasta & Rice", "Sauces"), ("Coffee & Tea", "Bakery")),
            repeat_rate=0.1,
            staples=("Fruit & Veg", "Dairy & Eggs", "Bakery", "Breakfast", "Coffee & Tea"),
        ),
        Vertical(
            name="electronics",
            catalog={
                "Phones": {
                    "Smartphones": (520.0, ("Smartphone", "Phone Pro", "Phone Mini")),
                    "Phone Cases": (18.0, ("Phone Case", "Flip Case", "Rugged Case")),
                    "Chargers": (22.0, ("USB-C Charger", "Wireless Charger", "Car Charger")),
                },
                "Computing": {
                    "Laptops": (780.0, ("Ultrabook", "Laptop", "2-in-1 Laptop")),
                    "Laptop Bags": (45.0, ("Laptop Sleeve", "Laptop Backpack", "Messenger")),
                    "Mice & Keyboards": (35.0, ("Wireless Mouse", "Keyboard", "Trackpad")),
                },
                "Photography": {
                    "Camera Bodies": (650.0, ("Mirrorless Camera", "Action Camera")),
                    "Lenses": (380.0, ("Prime Lens", "Zoom Lens", "Macro Lens")),
                    "Memory Cards": (19.0, ("SD Card", "microSD Card", "CFexpress Card")),
                },
                "Gaming": {
                    "Consoles": (420.0, ("Console", "Handheld Console")),
                    "Controllers": (55.0, ("Controller", "Arcade Stick", "Racing Wheel")),
                    "Games": (45.0, ("Racing Game", "Adventure Game", "Puzzle Game")),
                },
                "Audio": {
                    "Headphones": (65.0, ("Wireless Earbuds", "Over-Ear Headphones")),
                    "Speakers": (90.0, ("Smart Speaker", "Bluetooth Speaker", "Soundbar")),
                },
            },
            tastes={
                "Gamer": ("Pixelforge", "Kestrel"),
                "Creator": ("Sonique", "Lumora"),
                "Home office": ("Voltra", "Nimbus"),
            },
            # A steep head and a long tail: most of the catalog is rarely touched.
            zipf=1.3,
            bundles=(
                ("Smartphones", "Phone Cases", "Chargers"),
                ("Laptops", "Laptop Bags", "Mice & Keyboards"),
                ("Camera Bodies", "Lenses", "Memory Cards"),
                ("Consoles", "Controllers", "Games"),
            ),
            repeat_rate=0.01,
            picture="Electronics",
        ),
    )
}


def catalog_of(vertical: str) -> dict[str, dict[str, tuple[float, tuple[str, ...]]]]:
    """The catalog tree a shop of ``vertical`` (or the general shop) is drawn from."""
    return CATALOG_TREE if vertical == GENERAL else _profile(vertical).catalog


def picture_of(vertical: str, department: str) -> str:
    """The department whose demo picture a product of ``vertical`` in ``department`` shows."""
    return department if vertical == GENERAL else _profile(vertical).picture


def _profile(vertical: str) -> Vertical:
    if vertical not in VERTICALS:
        choices = ", ".join((GENERAL, *VERTICALS))
        raise ValueError(f"unknown vertical {vertical!r}; choose from {choices}")
    return VERTICALS[vertical]


def plan_vertical(*, seed: int, now: datetime, scale: float, vertical: str) -> ShopPlan:
    """Draw a shop of ``vertical``; the same arguments always give the same plan."""
    profile = _profile(vertical)
    rng = np.random.default_rng(seed)
    sizes = planned_sizes(scale)
    all_brands = tuple(b for brands in profile.tastes.values() for b in brands)
    brands = {department: all_brands for department in profile.catalog}
    products = plan_products(rng, n=sizes["products"], tree=profile.catalog, brands=brands)
    shoppers = plan_shoppers(rng, n=sizes["shoppers"], tree=profile.catalog)
    taste_of_brand = {b: t for t, bs in enumerate(profile.tastes.values()) for b in bs}
    product_taste = [taste_of_brand[p.brand] for p in products]
    shopper_taste = rng.integers(len(profile.tastes), size=len(shoppers)).tolist()
    weight = 1.0 / (rng.permutation(len(products)) + 1) ** profile.zipf
    bundles = _plant_bundles(profile, products, product_taste, weight, scale=scale)
    events, staples = _plan_events(
        rng,
        profile,
        products,
        product_taste,
        shopper_taste,
        weight,
        bundles,
        now=now,
        target=sizes["events"],
    )
    truth = PlantedTruth(
        tastes=tuple(profile.tastes),
        product_taste=product_taste,
        shopper_taste=shopper_taste,
        bundles=bundles,
        staples=staples,
    )
    return ShopPlan(products, shoppers, events, vertical=vertical, truth=truth)


def _plant_bundles(profile, products, product_taste, weight, *, scale) -> list[tuple[int, ...]]:
    """Per bundle shape and taste, a few bundles of that taste's most popular eligible products
    (active and older than the history), each product in one bundle at most."""
    per_taste = max(1, round(4 * scale))
    taken: set[int] = set()
    bundles = []
    by_popularity = np.argsort(-weight, kind="stable").tolist()
    for shape in profile.bundles:
        for taste in range(len(profile.tastes)):
            for _ in range(per_taste):
                bundle = []
                for sub in shape:
                    pick = next(
                        (
                            i
                            for i in by_popularity
                            if i not in taken
                            and products[i].subcategory == sub
                            and product_taste[i] == taste
                            and products[i].is_active
                            and products[i].launched_days_ago >= HISTORY_DAYS
                        ),
                        None,
                    )
                    if pick is None:
                        break
                    bundle.append(pick)
                if len(bundle) == len(shape):
                    taken.update(bundle)
                    bundles.append(tuple(bundle))
    return bundles


def _plan_events(
    rng, profile, products, product_taste, shopper_taste, weight, bundles, *, now, target
) -> tuple[EventColumns, dict[int, tuple[int, ...]]]:
    u = uniforms(rng).__next__
    n_tastes = len(profile.tastes)
    taste_pools = weighted_pools(weight, product_taste)
    subs = sorted({p.subcategory for p in products})
    # Browsing stays within the shopper's taste and the product's subcategory.
    taste_sub = [
        product_taste[i] * len(subs) + subs.index(p.subcategory) for i, p in enumerate(products)
    ]
    taste_sub_pools = weighted_pools(weight, taste_sub)
    bundle_of = {item: bundle for bundle in bundles for item in bundle}
    activity = rng.lognormal(0.0, 1.0, size=len(shopper_taste))
    activity[rng.random(len(shopper_taste)) < 0.1] = 0.0  # cold-start shoppers
    shopper_cdf = (np.cumsum(activity) / activity.sum()).tolist()

    calendar = history_calendar(now=now, products=products, growth=False)
    start, horizon, launched = calendar.start, calendar.horizon, calendar.launched
    day_cdf, hour_cdf, rating_cdf = calendar.day_cdf, calendar.hour_cdf, calendar.rating_cdf

    events = EventColumns()
    bought: dict[int, list[int]] = {}
    counter = {"session": 0, "order": 0}

    def new_session() -> str:
        counter["session"] += 1
        return f"demo-s{counter['session']:06d}"

    def new_order() -> str:
        counter["order"] += 1
        return f"DEMO-O{counter['order']:06d}"

    def buy(s: int, items, t: float, sid: str) -> float:
        """View, cart and buy ``items`` in one session and order."""
        order = new_order()
        for item in items:
            events.add(s, item, "view", t, session=sid)
            t = tick(t, u())
            events.add(s, item, "add_to_cart", t, session=sid)
            t = tick(t, u())
        for item in items:
            events.add(s, item, "purchase", t, value=quantity(u()), session=sid, order=order)
            bought.setdefault(s, []).append(item)
            if u() < 0.1:
                rated = t + 86400.0 * (1 + 9 * u())
                events.add(s, item, "rating", rated, value=pick(rating_cdf, u()) + 1.0)
        return t

    staples = _plan_staples(profile, products, product_taste, shopper_taste, activity, weight, u)
    for s, items in staples.items():
        # A regular shops on their own weekday at their own hour, most weeks.
        day, hour = int(u() * profile.cadence_days), pick(hour_cdf, u())
        for week_start in range(0, HISTORY_DAYS, profile.cadence_days):
            t = 86400.0 * (week_start + day) + 3600.0 * (hour + u())
            if t < horizon and u() < 0.8:
                basket = [i for i in items if u() < 0.85 and launched[i] <= t]
                if basket:
                    buy(s, basket, t, new_session())

    while len(events) < target:
        s = pick(shopper_cdf, u())
        t = 86400.0 * pick(day_cdf, u()) + 3600.0 * pick(hour_cdf, u()) + 3600.0 * u()
        taste = shopper_taste[s] if u() < profile.taste_loyalty else int(u() * n_tastes)
        current = draw(taste_pools[taste], u())
        if t >= horizon or current < 0 or launched[current] > t:
            continue
        sid = new_session()
        if bought.get(s) and u() < profile.repeat_rate:
            buy(s, [bought[s][int(u() * len(bought[s]))]], t, sid)
            continue
        if current in bundle_of and u() < 0.6:
            # The planted co-purchase: the whole bundle goes into one order.
            buy(s, [i for i in bundle_of[current] if launched[i] <= t], t, sid)
            continue
        if u() < 0.25:
            words = products[current].title.lower().split()[1:]
            query = " ".join(words[-2:]) if u() < 0.6 else words[-1]
            events.add(s, -1, "search", t, query=query, session=sid)
            t = tick(t, u())
        cart: list[int] = []
        for _ in range(min(12, geometric(0.3, u()))):
            events.add(s, current, "view", t, session=sid)
            t = tick(t, u())
            if u() < 0.22 and current not in cart:
                events.add(s, current, "add_to_cart", t, value=quantity(u()), session=sid)
                cart.append(current)
                t = tick(t, u())
            pool = taste_sub_pools[taste_sub[current]] if u() < 0.6 else taste_pools[taste]
            nxt = draw(pool, u())
            if nxt >= 0 and launched[nxt] <= t:
                current = nxt
        if cart and u() < 0.45:
            order = new_order()
            for item in cart:
                events.add(s, item, "purchase", t, value=quantity(u()), session=sid, order=order)
                bought.setdefault(s, []).append(item)
    to_datetimes(events, start=start, horizon=horizon)
    return events, staples


def _plan_staples(profile, products, product_taste, shopper_taste, activity, weight, u) -> dict:
    """A third of active shoppers are regulars with 2–4 staples of their taste, when the
    vertical has staples; popular products are likelier staples."""
    if not profile.staples:
        return {}
    eligible = [
        p.subcategory in profile.staples and p.is_active and p.launched_days_ago >= HISTORY_DAYS
        for p in products
    ]
    # Ineligible products go to an extra group no one draws from.
    groups = [
        t if ok else len(profile.tastes) for t, ok in zip(product_taste, eligible, strict=True)
    ]
    pools = weighted_pools(weight, groups)
    staples = {}
    for s, taste in enumerate(shopper_taste):
        if activity[s] > 0 and u() < 0.33 and taste < len(pools) and pools[taste][0]:
            picks = {draw(pools[taste], u()) for _ in range(2 + int(u() * 3))}
            staples[s] = tuple(sorted(picks))
    return staples
