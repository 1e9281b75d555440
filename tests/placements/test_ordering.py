"""The rule order on planted candidates (no database): boosts compose with the model score."""

from __future__ import annotations

import numpy as np

from placements.candidates import Candidate, rank_normalise
from placements.models import Rule, RuleKind
from placements.ordering import arrange
from recommender.serving.catalog_state import CatalogSnapshot
from recommender.serving.reasons import Reason
from recommender.serving.results import ProductCard, Recommendation


def _catalog() -> CatalogSnapshot:
    return CatalogSnapshot(
        version="t",
        pks=np.arange(1, 6),
        available=np.ones(5, dtype=bool),
        points_price=np.zeros(5, dtype=np.int64),
        category=np.array([1, 1, 1, 1, 2]),
        created_at=np.zeros(5),
        category_names={1: "A", 2: "B"},
        category_parent={1: None, 2: None},
        promotions=[],
    )


def _pool(brands: str) -> list[Candidate]:
    pool = []
    for n, brand in enumerate(brands, start=1):
        card = ProductCard(n, f"P{n}", "t", "1.00", "GBP", None, None, brand, None, True, None)
        item = Recommendation(card, 1.0, Reason("x", "x"), "m")
        pool.append(Candidate(item, n - 1, 2 if n == 5 else 1, promoted=False, pk=item.product.id))
    rank_normalise(pool)
    return pool


def _shown(pool, *rules, k=5) -> list[int]:
    placed = arrange(
        pool, k=k, rules=list(rules), catalog=_catalog(), per_category=None, per_brand=None
    )
    return [c.pk for c in placed]


def test_a_strong_boost_doubles_the_score_rather_than_moving_to_the_top():
    # bases 1, .8, .6, .4, .2: the last boosted strong scores .4, ties the 4th, stays behind it
    boost = Rule(kind=RuleKind.BOOST, strength="strong", brand="z")

    assert _shown(_pool("aaaaz"), boost) == [1, 2, 3, 4, 5]
    assert _shown(_pool("aaaza"), boost) == [1, 2, 4, 3, 5]


def test_a_bury_halves_the_score():
    bury = Rule(kind=RuleKind.BURY, strength="strong", brand="z")

    assert _shown(_pool("zaaaa"), bury) == [2, 3, 1, 4, 5]


def test_an_attribute_slot_takes_the_best_match_after_boosts():
    slot = Rule(kind=RuleKind.PIN, position=1, category_id=2)

    assert _shown(_pool("aaaaa"), slot, k=3) == [5, 1, 2]


def test_promotion_share_uses_the_best_promoted_at_their_own_positions():
    pool = _pool("aaaaa")
    for c in pool[2:]:
        c.promoted = True  # 3, 4, 5
    share = Rule(kind=RuleKind.PROMOTION_SHARE, share_count=2)

    assert _shown(pool, share, k=3) == [1, 3, 4]
