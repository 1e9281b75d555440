"""A rule's attributes read off the catalog snapshot's rows (once per snapshot) answer exactly
as the per-candidate matcher does, on seeded products and rules at the bands' edges."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from django.utils import timezone

from placements.candidates import candidates_from
from placements.models import Rule, RuleKind
from placements.ordering import _Pool, _rows_matching, matcher
from recommender.serving.catalog_state import current_catalog
from recommender.serving.reasons import Reason
from recommender.serving.results import Recommendation, product_cards
from tests.factories import CategoryFactory, ProductFactory, PromotionFactory

pytestmark = pytest.mark.django_db


def test_the_snapshot_rows_answer_every_rule_as_the_matcher_does():
    rng = random.Random(3)
    parent = CategoryFactory(name="Outdoor")
    child = CategoryFactory(name="Tents", parent=parent)
    other = CategoryFactory(name="Kitchen")
    categories = [parent, child, other, None]
    prices = [Decimal("5.00"), Decimal("9.99"), Decimal("10.00"), Decimal("10.01"), Decimal("250")]
    products = [
        ProductFactory(
            category=rng.choice(categories),
            brand=rng.choice(["Acme", "ACME", "Zed", ""]),
            price=rng.choice(prices),
            stock=rng.choice([None, 0, 3, 10]),
            tags=rng.sample(["sale", "new", "eco"], rng.randint(0, 2)),
        )
        for _ in range(60)
    ]
    PromotionFactory().products.set(products[::4])
    now = timezone.now()
    catalog = current_catalog()
    cards = product_cards([p.pk for p in products], memo=catalog.card_memo)
    items = [Recommendation(cards[p.pk], 1.0, Reason("x", "x"), "m") for p in products]
    pool = candidates_from(items, catalog=catalog, now=now)
    rows = _Pool(pool)
    rules = [
        Rule(kind=RuleKind.BOOST, category=parent),
        Rule(kind=RuleKind.BOOST, category=child),
        Rule(kind=RuleKind.EXCLUDE, brand="acme"),
        Rule(kind=RuleKind.INCLUDE, tag="sale"),
        Rule(kind=RuleKind.INCLUDE, price_min=Decimal("9.99"), price_max=Decimal("10.00")),
        Rule(kind=RuleKind.BURY, price_min=Decimal("10.01")),
        Rule(kind=RuleKind.INCLUDE, min_stock=3),
        Rule(kind=RuleKind.EXCLUDE, on_promotion=True, category=other),
        Rule(kind=RuleKind.BOOST, on_promotion=False, brand="Zed", tag="eco"),
    ]
    for rule in rules:
        assert _rows_matching(rule, catalog) is not None  # the snapshot path, not the fallback
        expected = [matcher(rule, catalog)(c) for c in pool]
        assert rows.matches(rule, catalog, None).tolist() == expected, rule
    assert any(matcher(rules[0], catalog)(c) for c in pool)  # the rules do pick some
