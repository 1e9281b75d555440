"""The order a placement's pool goes through before it is shown."""

from __future__ import annotations

from dataclasses import dataclass

from placements.candidates import Candidate, capped
from recommender.serving.catalog_state import CatalogSnapshot


@dataclass(frozen=True)
class Audience:
    """Who is asking, as rule targets see them."""

    pk: int | None
    country: str
    segment: str
    returning: bool

    @property
    def known(self) -> bool:
        return self.pk is not None


def drop_filtered(candidates: list[Candidate], *, rules: list, catalog: CatalogSnapshot):
    return candidates


def arrange(
    pool: list[Candidate],
    *,
    k: int,
    rules: list,
    catalog: CatalogSnapshot,
    per_category: int | None,
    per_brand: int | None,
) -> list[Candidate]:
    """The best ``k`` of ``pool`` within the diversity caps."""
    fits, take = capped([], per_category=per_category, per_brand=per_brand)
    chosen: list[Candidate] = []
    for candidate in pool:
        if len(chosen) >= k:
            break
        if fits(candidate):
            take(candidate)
            chosen.append(candidate)
    return chosen
