"""Placement answers as JSON, to check that a change to the placement path keeps them identical.

    .venv/bin/python -m bench.placement_answers --seed       # once: a shown history to read
    .venv/bin/python -m bench.placement_answers > before.json  # on the old code
    .venv/bin/python -m bench.placement_answers > after.json   # on the new code, right after
    cmp before.json after.json

Creates placements covering every rule kind (bench.placements' 20 live rules and "recently
shown"; a placement with caps, a fallback chain, a minimum relevance, "bought before", a count
share and both pins; a product page with relative prices; a cart list), asks each for the same
shoppers (sorted, so every run picks the same ones) and prints what the API would answer, rule
ids as names (they differ between runs), then removes all it created. ``--seed`` serves the
rules placement three times per shopper (a real shown history for rotation and the exclusion):
run it once before both dumps, which must both fall within the history's windows (an hour).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

PREFIX = "answers-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--seed", action="store_true", help="serve to fill the shown history")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from bench.placements import _setup, _teardown

    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    shoppers = _shoppers(args.shoppers)
    _teardown()
    _own_teardown()
    try:
        plain, ruled = _setup()
        placements = [plain, ruled, *_own_setup()]
        if args.seed:
            _seed(ruled, shoppers)
            return 0
        json.dump(_answers(placements, shoppers), sys.stdout, indent=1, sort_keys=True)
    finally:
        _teardown()
        _own_teardown()
    return 0


def _shoppers(n: int) -> list[str]:
    from django.db.models import Count

    from behavior.models import Shopper

    known = (
        Shopper.objects.annotate(n=Count("events"))
        .filter(n__gt=0)
        .order_by("external_id")
        .values_list("external_id", flat=True)
    )
    return [*known[: n - 2], "answers-unknown-1", ""]  # an unknown shopper and an anonymous one


def _own_setup():
    from django.db.models import Count

    from catalog.models import Category, Product
    from placements.models import Context, Placement, Rule, RuleKind, RuleState
    from placements.rule_services import save_rule

    categories = list(
        Category.objects.annotate(n=Count("products")).filter(n__gt=0).order_by("-n", "pk")[:4]
    )
    products = list(Product.objects.available().order_by("pk")[10:12])
    capped = Placement.objects.create(
        name=f"{PREFIX}capped",
        title="capped",
        k=8,
        max_per_category=2,
        max_per_brand=1,
        exclude_bought=True,
        min_relevance=0.3,
        fallback=["trending", "new_arrivals"],
    )
    page = Placement.objects.create(
        name=f"{PREFIX}page", title="page", strategy="similar", k=10, context=Context.PRODUCT
    )
    cart = Placement.objects.create(
        name=f"{PREFIX}cart",
        title="cart",
        strategy="bought_together",
        k=6,
        context=Context.CART,
        fallback=["for_you"],
    )
    rules = [
        (capped, {"kind": RuleKind.INCLUDE, "category": categories[0]}),
        (capped, {"kind": RuleKind.BOOST, "price_min": 2, "strength": "strong"}),
        (capped, {"kind": RuleKind.PIN, "product": products[0], "position": 1}),
        (capped, {"kind": RuleKind.PIN, "price_max": 1, "position": 4}),
        (capped, {"kind": RuleKind.PROMOTION_SHARE, "share_count": 2}),
        (page, {"kind": RuleKind.BOOST, "price_relation": "cheaper", "strength": "moderate"}),
        (
            page,
            {
                "kind": RuleKind.BURY,
                "price_relation": "within",
                "price_percent": 20,
                "strength": "strong",
            },
        ),
        (page, {"kind": RuleKind.EXCLUDE, "price_relation": "pricier", "price_min": 20}),
        (cart, {"kind": RuleKind.BOOST, "category": categories[1], "strength": "weak"}),
        (cart, {"kind": RuleKind.PIN, "category": categories[2], "position": 2}),
        (cart, {"kind": RuleKind.BURY, "price_relation": "pricier", "strength": "moderate"}),
    ]
    for n, (placement, fields) in enumerate(rules):
        rule = Rule(name=f"{PREFIX}{n}", state=RuleState.LIVE, **fields)
        save_rule(rule=rule, placements=[placement])
    return [capped, page, cart]


def _own_teardown() -> None:
    from placements.models import Placement, Rule

    Rule.objects.filter(name__startswith=PREFIX).delete()
    Placement.objects.filter(name__startswith=PREFIX).delete()


def _seed(ruled, shoppers: list[str]) -> None:
    from django.utils import timezone

    from placements.services import placement_recommendations, serve_placement
    from recommender.impressions import flush_impressions

    for shopper in shoppers:
        for _ in range(3):
            now = timezone.now()
            served = placement_recommendations(placement=ruled, now=now, shopper=shopper)
            serve_placement(served, now=now)
    flush_impressions()


def _answers(placements, shoppers: list[str]) -> list[dict]:
    from django.utils import timezone

    from catalog.models import Product
    from placements.models import Rule
    from placements.services import placement_recommendations

    names = dict(Rule.objects.values_list("pk", "name"))
    skus = list(Product.objects.available().order_by("pk").values_list("sku", flat=True)[:400])
    answers = []
    for n, shopper in enumerate(shoppers):
        for placement in placements:
            request = {"shopper": shopper}
            if placement.context == "product":
                request["product"] = skus[n % len(skus)]
            elif placement.context == "cart":
                request["cart"] = (skus[(n * 7) % len(skus)], skus[(n * 7 + 3) % len(skus)])
            answer = placement_recommendations(placement=placement, now=timezone.now(), **request)
            shown = answer.as_dict()
            del shown["generated_at"]
            shown["rules"] = sorted(names[pk] for pk in answer.rules)
            shown["rule_names"] = [[names[pk] for pk in item.rule_ids] for item in answer.items]
            answers.append({"placement": placement.name, **request, "answer": shown})
    return answers


if __name__ == "__main__":
    raise SystemExit(main())
