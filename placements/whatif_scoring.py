"""Scoring a what-if's two versions of a placement and saying the difference in words.

Hit rate and NDCG at the placement's k are the replay's (``recommender.replay.scoring``):
against the products each shopper first touched after the cut, products they had before it
counting as misses. The rest are read off the lists shown: the share of promoted products,
catalog coverage (distinct products shown over products available), distinct categories per
list, the exposure share of each attribute the draft rules target, and the revenue of shown
products the shopper bought after the cut (quantity × today's price: events store no price).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from placements.candidates import Candidate
from placements.models import Rule, RuleKind
from placements.ordering import matcher
from recommender.replay.protocol import Split
from recommender.replay.scoring import score_lists
from recommender.serving.catalog_state import CatalogSnapshot

# Below this many shoppers the sentence does not guess at a hit-rate change.
MIN_SHOPPERS = 30
RESAMPLES = 2000
SCALARS = ("hit_rate", "ndcg", "promoted_share", "coverage", "categories_per_list", "revenue")


@dataclass
class Tally:
    """What one version showed the replayed shoppers, accumulated list by list."""

    users: np.ndarray
    k: int
    catalog: CatalogSnapshot
    targets: dict[str, Callable[[Candidate], bool]]  # attribute label → does a product match
    recs: np.ndarray = field(init=False)
    shown: set[int] = field(default_factory=set)
    n_items: int = 0
    n_promoted: int = 0
    categories: list[int] = field(default_factory=list)
    exposure: Counter = field(default_factory=Counter)
    lists: list[list[Candidate]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.recs = np.full((self.users.size, self.k), -1, dtype=np.int64)

    def revenue(self, bought: list[dict[int, float]]) -> float:
        """Σ price × quantity of shown products each shopper bought later (``bought``: per
        row, product pk → quantity)."""
        return sum(
            float(c.price) * quantities.get(c.pk, 0.0)
            for found, quantities in zip(self.lists, bought, strict=True)
            for c in found
        )

    def add(self, row: int, found: list[Candidate], *, codes: list[int]) -> None:
        """One shopper's list (``row`` of ``users``) and its replay codes."""
        codes = codes[: self.k]
        self.recs[row, : len(codes)] = codes
        for c in found:
            self.shown.add(c.pk)
            self.n_promoted += c.promoted
            self.exposure.update(label for label, matches in self.targets.items() if matches(c))
        self.lists.append(found)
        self.n_items += len(found)
        self.categories.append(len({c.category for c in found if c.category >= 0}))


def rule_targets(
    rules: list[Rule], catalog: CatalogSnapshot
) -> dict[str, Callable[[Candidate], bool]]:
    """Label → predicate of what each rule steers: its attributes ("Outdoor", "brand Acme"),
    a pinned product, or promoted products for a share."""
    targets: dict[str, Callable[[Candidate], bool]] = {}
    for rule in rules:
        if rule.kind == RuleKind.PROMOTION_SHARE:
            targets["promoted products"] = lambda c: c.promoted
        elif rule.kind == RuleKind.PIN and rule.product_id is not None:
            targets[rule.product.sku] = lambda c, pk=rule.product_id: c.pk == pk
        elif label := _attributes(rule):
            targets[label] = matcher(rule, catalog)
    return targets


def _attributes(rule: Rule) -> str:
    parts = []
    if rule.category_id is not None:
        parts.append(rule.category.name)
    if rule.brand:
        parts.append(f"brand {rule.brand}")
    if rule.price_min is not None or rule.price_max is not None:
        parts.append(f"price {rule.price_min or 0}–{rule.price_max or '…'}")
    if rule.on_promotion is not None:
        parts.append("promoted" if rule.on_promotion else "not promoted")
    return ", ".join(parts)


def version_metrics(
    tally: Tally, *, split: Split, bought: list[dict[int, float]]
) -> tuple[dict, np.ndarray]:
    """(the version's figures, per shopper whether the list held a product they went on to
    touch)."""
    k = tally.k
    metrics, ndcg = score_lists(
        tally.recs, users=tally.users, relevant=split.test, exclude=split.train, k=k
    )
    available = max(int(tally.catalog.available.sum()), 1)
    n_items = max(tally.n_items, 1)
    figures = {
        "hit_rate": metrics[f"hr@{k}"],
        "ndcg": metrics[f"ndcg@{k}"],
        "promoted_share": tally.n_promoted / n_items,
        "coverage": len(tally.shown) / available,
        "categories_per_list": float(np.mean(tally.categories)) if tally.categories else 0.0,
        "revenue": round(tally.revenue(bought), 2),
        "exposure": {label: tally.exposure[label] / n_items for label in tally.targets},
    }
    return figures, ndcg > 0  # one hit or more is exactly a positive NDCG


def paired_difference(ours: np.ndarray, theirs: np.ndarray, *, seed: int) -> dict[str, float]:
    """mean(ours − theirs) over the same shoppers with its 95 % bootstrap interval
    (shoppers resampled, each keeping both of their outcomes)."""
    difference = ours.astype(np.float64) - theirs.astype(np.float64)
    n = difference.size
    if n == 0:
        return {"difference": 0.0, "low": 0.0, "high": 0.0}
    rng = np.random.default_rng(seed)
    means = np.empty(RESAMPLES)
    block = max(1, 2_000_000 // n)  # bounds the resample matrix to ~16 MB
    for start in range(0, RESAMPLES, block):
        size = min(block, RESAMPLES - start)
        means[start : start + size] = difference[rng.integers(0, n, size=(size, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"difference": float(difference.mean()), "low": float(low), "high": float(high)}


def compare(
    live: Tally,
    drafts: Tally,
    *,
    split: Split,
    bought: list[dict[int, float]],
    days: int,
    seed: int,
) -> dict:
    """Both versions' figures, their differences, the hit-rate difference's interval and the
    sentence a merchandiser reads; ``bought``: per replayed shopper, what they bought later."""
    live_figures, live_hits = version_metrics(live, split=split, bought=bought)
    draft_figures, draft_hits = version_metrics(drafts, split=split, bought=bought)
    difference = {key: draft_figures[key] - live_figures[key] for key in SCALARS}
    difference["exposure"] = {
        label: draft_figures["exposure"][label] - live_figures["exposure"][label]
        for label in drafts.targets
    }
    change = paired_difference(draft_hits, live_hits, seed=seed)
    return {
        "k": live.k,
        "n_shoppers": int(live.users.size),
        "live": live_figures,
        "with_drafts": draft_figures,
        "difference": difference,
        "hit_rate_change": change,
        "summary": summary(
            live_figures, draft_figures, change=change, n_shoppers=int(live.users.size), days=days
        ),
    }


def summary(live: dict, drafts: dict, *, change: dict, n_shoppers: int, days: int) -> str:
    """One sentence: the hit-rate effect (or that the sample cannot tell) and the largest
    exposure change of what the drafts target."""
    hit = _hit_words(live["hit_rate"], change, n_shoppers=n_shoppers, days=days)
    exposure = _exposure_words(live["exposure"], drafts["exposure"])
    return f"{hit} and {exposure}." if exposure else f"{hit}."


def _hit_words(live_rate: float, change: dict, *, n_shoppers: int, days: int) -> str:
    points, low, high = change["difference"], change["low"], change["high"]
    span = f"between {_signed(low, live_rate)} and {_signed(high, live_rate)}"
    if n_shoppers < MIN_SHOPPERS:
        return (
            f"Too few shoppers to tell the hit-rate effect ({n_shoppers} came back in the last "
            f"{days} days; at least {MIN_SHOPPERS} are needed)"
        )
    if low == high == points == 0:
        return "This change leaves the hit rate as it is"
    if low <= 0 <= high:
        return f"Too few shoppers to tell the hit-rate effect ({span}, {n_shoppers} shoppers)"
    verb = "costs" if points < 0 else "gains"
    return f"This change {verb} {_relative(abs(points), live_rate)} hit rate ({span})"


def _relative(points: float, base: float) -> str:
    """A change in hit rate as a share of the live rate, or in points when live is 0."""
    if base > 0:
        return _pct(points / base)
    return f"{points * 100:.1f} points of"


def _owner(label: str) -> str:
    return f"{label}'" if label.endswith("s") else f"{label}'s"


def _pct(share: float) -> str:
    """A share in words: whole percents, one decimal below 10 % (0.3 % is not 0 %)."""
    return f"{share * 100:.1f} %" if abs(share) < 0.1 else f"{share * 100:.0f} %"


def _signed(points: float, base: float) -> str:
    sign = "+" if points > 0 else "−" if points < 0 else ""
    return f"{sign}{_relative(abs(points), base).replace(' of', '')}"


def _exposure_words(live: dict[str, float], drafts: dict[str, float]) -> str:
    if not drafts:
        return ""
    label = max(drafts, key=lambda name: (abs(drafts[name] - live.get(name, 0.0)), name))
    before, after = live.get(label, 0.0), drafts[label]
    if before == 0:
        return (
            f"gives {label} {_pct(after)} of the products shown (none now)"
            if after
            else f"shows nothing of {label}, as now"
        )
    ratio = after / before
    for low, high, verb in ((1.9, 2.1, "doubles"), (2.9, 3.1, "triples"), (0.45, 0.55, "halves")):
        if low <= ratio <= high:
            shares = f"{_pct(before)} → {_pct(after)} of the products shown"
            return f"{verb} {_owner(label)} exposure ({shares})"
    if 0.95 <= ratio <= 1.05:
        return f"leaves {_owner(label)} exposure about as it is ({_pct(before)} → {_pct(after)})"
    verb = "raises" if after > before else "cuts"
    shares = f"from {_pct(before)} to {_pct(after)} of the products shown"
    return f"{verb} {_owner(label)} exposure {shares}"
