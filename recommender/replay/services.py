"""Replay the shop at a cut time and score the lists it serves (``manage.py evaluate``).

1. Events (kinds that carry weight) → first-event pairs → the reference scorer's ``global``
   split (``protocol``): the cut T, the training pairs, the test pairs, the scored shoppers.
2. Models fitted on the events before T by the training pipeline's code (``models``), kept in
   memory: the champions and the run/version tables are never touched.
3. Every scored shopper served through ``recommend(..., now=T, models=...)``, the
   function the API calls, for "auto" and for each personal model forced.
4. Lists scored like the reference (``scoring``) next to popularity and a tuned EASE fitted on
   the same training pairs (``baselines``), with paired bootstrap intervals of the ratios.

A second, repeat-inclusive target (every product a shopper purchased at or after T; left out
when no shopper purchased on both sides of T, e.g. a shop of ratings only) scores
``buy_again``, ``for_you`` and whole pages (every slot's list together), ``buy_again`` next to
"the shopper's own most frequent, then popularity" with the paired bootstrap ratio, and the
core repeat scorer at parameters chosen on a validation window before T.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import scipy.sparse as sp
from django.conf import settings

from behavior.kinds import event_weights
from behavior.models import EventKind, Shopper
from catalog.models import Product
from recommender.core.repeat import Purchases
from recommender.replay import baselines
from recommender.replay.models import Track, fit_scratch_models, serving_variants
from recommender.replay.protocol import Split, global_split
from recommender.replay.scoring import ratio_interval, score_lists, score_pages
from recommender.serving.catalog_state import catalog_at, current_catalog
from recommender.serving.clock import replay_cutoff
from recommender.serving.model_cache import personal_model
from recommender.serving.registry import slot_names
from recommender.serving.service import recommend
from recommender.training.dataset import TrainingDataError, load_events

K = 10


class ReplayError(ValueError):
    """The shop cannot be replayed as asked (no events, no shopper to score at that cut)."""


@dataclass(frozen=True)
class ReplayData:
    """The split and the ids its codes stand for (codes sort as the raw ids do)."""

    split: Split
    shopper_pks: np.ndarray
    external_ids: np.ndarray
    product_pks: np.ndarray
    skus: np.ndarray
    purchases_after: sp.csr_matrix  # the repeat-inclusive target
    purchases: Purchases  # every purchase event, both sides of the cut


@dataclass
class ListScore:
    name: str
    target: str
    metrics: dict
    vs_popularity: dict | None = None
    vs_ease: dict | None = None
    vs_own_most_frequent: dict | None = None  # buy_again's baseline on the purchases target
    # The same baseline limited to what the catalog serves now (the slot's own limit).
    vs_servable_own_most_frequent: dict | None = None


@dataclass
class ReplayReport:
    cut: datetime
    facts: dict
    scores: list[ListScore]
    # List name → (external ids, skus per shopper), for ``write_lists`` and evaluate.py.
    lists: dict[str, tuple[list[str], list[list[str]]]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "cut": self.cut.isoformat(),
            "facts": self.facts,
            "scores": [vars(score) for score in self.scores],
        }


def _untracked(items: Iterable, **_options) -> Iterable:
    return items


def replay_shop(
    *,
    cut: datetime | None = None,
    algorithms: list[str] | None = None,
    max_shoppers: int | None = None,
    seed: int = 0,
    track: Track = _untracked,
    tuning_budget_seconds: float | None = None,
) -> ReplayReport:
    """Replay at ``cut`` (default: the reference's global protocol) and score what is served.

    Raises ``ReplayError`` when there are no events or no shopper to score at the cut.
    """
    data = replay_data(cut=cut)
    split = data.split
    at = datetime.fromtimestamp(split.cut, tz=UTC)
    if replay_cutoff(at) is None:
        raise ReplayError(f"The cut {at:%Y-%m-%d %H:%M} UTC is not in the past.")
    users = _sample(split.eval_users, max_shoppers, seed)
    repeat_users = np.flatnonzero(
        (np.diff(split.train.indptr) > 0) & (np.diff(data.purchases_after.indptr) > 0)
    )
    repeat_users = _sample(repeat_users, max_shoppers, seed)
    models, fitted, repeat = fit_scratch_models(
        until=at, algorithms=algorithms, track=track, tuning_budget_seconds=tuning_budget_seconds
    )
    served = personal_model(models)
    report = ReplayReport(cut=at, facts=_facts(data, users, repeat_users, fitted, seed), scores=[])
    report.facts["auto_serves"] = served.algorithm if served is not None else None
    # What no served list can reach and the baselines, ranking every product, can.
    unservable = ~_servable_at(data, at)[split.test.indices]
    report.facts["test_pairs_unservable_at_cut"] = (
        float(unservable.mean()) if unservable.size else 0.0
    )
    popular = baselines.popularity(split, k=K)
    ease = baselines.ease(split, k=K)
    report.facts["ease"] = {"model": ease.name, **ease.params}
    keep = np.isin(split.eval_users, users)
    reference = {}
    for baseline in (popular, ease):
        metrics, per_user = score_lists(
            baseline.recs[keep], users=users, relevant=split.test, exclude=split.train
        )
        reference[baseline.name] = per_user
        report.scores.append(ListScore(f"baseline {baseline.name}", "new items", metrics))
        report.lists[f"baseline_{baseline.name}"] = _named(data, users, baseline.recs[keep])
    for variant, variant_models in serving_variants(models).items():
        pinned = None if variant == "auto" else variant
        recs = _serve(
            data, users, "for_you", at, variant_models, track, f"for_you {variant}", pinned
        )
        metrics, per_user = score_lists(recs, users=users, relevant=split.test, exclude=split.train)
        score = ListScore(f"for_you served ({variant})", "new items", metrics)
        score.vs_popularity = ratio_interval(per_user, reference["popularity"], seed=seed)
        score.vs_ease = ratio_interval(per_user, reference[ease.name], seed=seed)
        report.scores.append(score)
        report.lists[f"for_you_{variant}"] = _named(data, users, recs)
    if repeat_users.size:
        repeat_scores, report.facts["buy_again_tuning"] = _repeat_scores(
            data, repeat_users, at, models, track, repeat
        )
        report.scores += repeat_scores
    else:
        # A shop of ratings or views only (MovieLens) has no purchase to repeat: the second
        # target is empty, and its ratios would have no shopper to compare.
        report.facts["buy_again_tuning"] = {
            "note": "no shopper purchased both before and after the cut: no repeat target"
        }
    report.facts["buy_again_half_life_days"] = settings.SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS
    return report


def replay_data(*, cut: datetime | None) -> ReplayData:
    """Every counted event's first (shopper, product) pair, split at ``cut`` or by protocol."""
    try:
        events = load_events(window_days=0)
    except TrainingDataError as exc:
        raise ReplayError(str(exc)) from exc
    counted = [kind for kind, weight in event_weights().items() if weight > 0]
    events = events.subset(np.flatnonzero(np.isin(events.kinds, counted)))
    if len(events) == 0:
        raise ReplayError("No events of a kind that carries weight: nothing to replay.")
    shopper_pks, external_ids, users = _coded(events.shoppers, Shopper, "external_id")
    product_pks, skus, items = _coded(events.products, Product, "sku")
    shape = {"n_users": shopper_pks.size, "n_items": product_pks.size}
    try:
        split = global_split(
            users, items, events.times, cut=None if cut is None else cut.timestamp(), **shape
        )
    except ValueError as exc:
        raise ReplayError(f"Cannot split the events: {exc}.") from exc
    if split.eval_users.size == 0:
        raise ReplayError(
            "No shopper has events both before and after the cut: nothing to score "
            f"(cut {datetime.fromtimestamp(split.cut, tz=UTC):%Y-%m-%d %H:%M} UTC)."
        )
    bought = events.kinds == EventKind.PURCHASE
    purchases = Purchases(
        users[bought], items[bought], events.times[bought].astype(np.float64), split.train.shape
    )
    after = purchases.between(split.cut, np.inf)
    return ReplayData(split, shopper_pks, external_ids, product_pks, skus, after, purchases)


def _coded(pks: np.ndarray, model, field_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pks, names) sorted by name, and each event's code: the reference codes ids by
    ``np.unique`` of the raw strings, so ties in time break the same way here."""
    unique, inverse = np.unique(pks, return_inverse=True)
    name_of = dict(model.objects.filter(pk__in=unique.tolist()).values_list("pk", field_name))
    names = np.array([name_of[pk] for pk in unique.tolist()])
    order = np.argsort(names, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return unique[order], names[order], rank[inverse]


def _sample(users: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or users.size <= limit:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=limit, replace=False))


def _serve(
    data, users, slot, at, models, track, desc, serving_model=None, repeat=None
) -> np.ndarray:
    """Each user's served ``slot`` list as item codes (-1 for products without events);
    ``serving_model`` pins the model behind "for you" (None: as configured); ``repeat``: the
    buy-again model the replay's training chose (None: the frequency ranking)."""
    code_of = {int(pk): code for code, pk in enumerate(data.product_pks.tolist())}
    recs = np.full((users.size, K), -1, dtype=np.int64)
    for row, user in enumerate(track(users.tolist(), desc=desc, unit="shopper")):
        served = recommend(
            shopper=str(data.external_ids[user]),
            slot=slot,
            k=K,
            now=at,
            models=models,
            serving_model=serving_model,
            repeat=repeat,
        )
        codes = [code_of.get(item.product.id, -1) for item in served.items[:K]]
        recs[row, : len(codes)] = codes
    return recs


def _repeat_scores(data, users, at, models, track, repeat) -> tuple[list[ListScore], dict]:
    """buy_again, for_you and whole pages against every product purchased at or after T;
    buy_again against the shopper's own most frequent (then popular) items; and facts."""
    target = data.purchases_after
    by_slot = {
        slot: _serve(data, users, slot, at, models, track, slot, repeat=repeat)
        for slot in slot_names()
    }
    frequent = baselines.own_most_frequent(data.split, data.purchases, users, k=K)
    tuning = baselines.tune_repeat(data.split, data.purchases, k=K)
    reference = score_lists(frequent.recs, users=users, relevant=target)
    scores = [ListScore("baseline own_most_frequent", "purchases", reference[0])]
    # The replay serves today's catalog: what is inactive or out of stock now cannot be served,
    # however often it was bought before the cut.
    servable = baselines.own_most_frequent(
        data.split, data.purchases, users, k=K, servable=_servable_at(data, at)
    )
    like_for_like = score_lists(servable.recs, users=users, relevant=target)
    scores.append(ListScore("baseline own_most_frequent (servable)", "purchases", like_for_like[0]))
    scores[-1].vs_own_most_frequent = ratio_interval(like_for_like[1], reference[1])
    if "chosen" in tuning:
        core = baselines.repeat_scorer(
            data.split, data.purchases, users, k=K, chosen=tuning["chosen"]
        )
        metrics, per_user = score_lists(core.recs, users=users, relevant=target)
        scores.append(ListScore("repeat scorer (validated)", "purchases", metrics))
        scores[-1].vs_own_most_frequent = ratio_interval(per_user, reference[1])
    for slot in ("buy_again", "for_you"):
        metrics, per_user = score_lists(by_slot[slot], users=users, relevant=target)
        scores.append(ListScore(f"{slot} served (auto)", "purchases", metrics))
        if slot == "buy_again":
            scores[-1].vs_own_most_frequent = ratio_interval(per_user, reference[1])
            scores[-1].vs_servable_own_most_frequent = ratio_interval(per_user, like_for_like[1])
    if repeat is not None:  # what the slot served before its model: the same run's "before"
        plain = _serve(data, users, "buy_again", at, models, track, "buy_again (frequency)")
        metrics, per_user = score_lists(plain, users=users, relevant=target)
        scores.append(ListScore("buy_again served (frequency only)", "purchases", metrics))
        scores[-1].vs_own_most_frequent = ratio_interval(per_user, reference[1])
        scores[-1].vs_servable_own_most_frequent = ratio_interval(per_user, like_for_like[1])
    pages = [np.unique(np.concatenate([by_slot[s][n] for s in by_slot])) for n in range(users.size)]
    pages = [page[page >= 0] for page in pages]
    scores.append(
        ListScore(
            "page served (auto)", "purchases", score_pages(pages, users=users, relevant=target)
        )
    )
    return scores, tuning


def _servable_at(data: ReplayData, at: datetime) -> np.ndarray:
    """Bool per item code: the product is in the catalog and was available to serve at the cut
    (the catalogue serving answers the replay from, ``catalog_at``)."""
    catalog = catalog_at(current_catalog(), now=at)
    rows = catalog.rows_of(data.product_pks)
    return (rows >= 0) & catalog.available[np.maximum(rows, 0)]


def _named(
    data: ReplayData, users: np.ndarray, recs: np.ndarray
) -> tuple[list[str], list[list[str]]]:
    skus = [[str(data.skus[c]) for c in row if c >= 0] for row in recs.tolist()]
    return [str(data.external_ids[u]) for u in users.tolist()], skus


def _facts(data: ReplayData, users, repeat_users, fitted: dict, seed: int) -> dict:
    split = data.split
    return {
        "protocol": "global (first event per pair; last 10 % of pairs by time, user, item)",
        "n_pairs": split.n_pairs,
        "n_train_pairs": split.n_train_pairs,
        "n_test_pairs": split.n_pairs - split.n_train_pairs,
        "n_eligible_shoppers": int(split.eval_users.size),
        "n_scored_shoppers": int(users.size),
        "n_cold_test_shoppers": split.n_cold_test_users,
        "n_repeat_target_shoppers": int(repeat_users.size),
        "n_items": int(data.product_pks.size),
        "sample_seed": seed,
        **fitted,
    }


def write_lists(report: ReplayReport, directory) -> list:
    """One ``user,item,rank`` CSV per list (what ``evaluate.py score --recs`` reads)."""
    import csv
    from pathlib import Path

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (shoppers, skus) in report.lists.items():
        path = folder / f"{name}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user", "item", "rank"])
            for shopper, items in zip(shoppers, skus, strict=True):
                writer.writerows((shopper, sku, rank) for rank, sku in enumerate(items, 1))
        written.append(path)
    return written
