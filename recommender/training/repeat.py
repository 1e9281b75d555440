"""The buy-again model of one training run: TIFU-KNN (``core.repeat.RepeatModel``) tuned on a
validation window of the run's purchases, kept only when it beats "the shopper's own most
frequent purchases, then popularity" there, then fitted on the whole window.

Windows, oldest first: purchases before the validation cut are the history, those from it to
the holdout start the validation target (what the search chooses on), those after the
holdout start score the search's choice against the defaults (the defaults serve when they
score higher there, as for every ``for_you`` algorithm); the search never reads them. A
replay calls this with the events before its cut, so its test window is never read.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from behavior.models import EventKind
from recommender.artifacts import repeat_artifact_path, write_repeat_artifact
from recommender.core.evaluation import ndcg_at_k, sample_users
from recommender.core.matrix import IdIndex
from recommender.core.repeat import Purchases, RepeatModel, most_frequent_scores
from recommender.selectors import last_buy_again_choice
from recommender.training.dataset import EventArrays

HALF_LIVES = (7.0, 30.0, 90.0, 180.0, 365.0)
# (alpha, neighbours): own share and k; (1, 0) is personal frequency alone.
BLENDS = ((1.0, 0), (0.7, 50), (0.5, 100), (0.3, 200))
POPULARITY_WEIGHTS = (1e-6, 0.003, 0.01, 0.05)
# The popularity term counted over recent purchases (days; None: all time). 7 days, as the
# trending slot decays: on Online Retail it beat all-time counts on every validation window
# and tied on the demo verticals (bench/README "Stop 21").
POPULARITY_HALF_LIVES = (7.0, 30.0, None)
DEFAULT = {
    "half_life_days": 90.0,
    "alpha": 0.5,
    "neighbours": 100,
    "popularity_weight": 0.01,
    "popularity_half_life_days": 7.0,
}
# Below this many validation shoppers a choice chases noise: the current slot stays.
MIN_SHOPPERS = 30


@dataclass
class RepeatTraining:
    """The fitted model (None: it does not serve) and what tuning found."""

    model: RepeatModel | None
    items: IdIndex
    users: IdIndex
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def serves(self) -> bool:
        return self.model is not None


def train_repeat(
    events: EventArrays,
    *,
    holdout_start: float | None,
    budget_seconds: float,
    warm_start: dict[str, Any] | None = None,
    k: int = 10,
    holdout_fraction: float = 0.1,
) -> RepeatTraining | None:
    """Tune, check and fit the buy-again model on ``events`` (None: no purchases).

    The validation cut is the last ``holdout_fraction`` of the purchases before
    ``holdout_start`` (the run's holdout; None: the last purchase). The defaults and
    ``warm_start`` are scored first; the grid continues while ``budget_seconds`` lasts.
    """
    bought = np.flatnonzero(events.kinds == EventKind.PURCHASE)
    if bought.size == 0:
        return None
    users = IdIndex(np.unique(events.shoppers[bought]))
    items = IdIndex(np.unique(events.products[bought]))
    purchases = Purchases(
        users.to_index(events.shoppers[bought]),
        items.to_index(events.products[bought]),
        events.times[bought].astype(np.float64),
        (len(users), len(items)),
    )
    end = float(purchases.times.max()) + 1.0
    holdout = end if holdout_start is None else float(holdout_start)
    earlier = np.sort(purchases.times[purchases.times < holdout])
    record: dict[str, Any] = {"n_purchases": int(bought.size)}
    if earlier.size < 2:
        return RepeatTraining(None, items, users, {**record, "note": "too few purchases"})
    cut = float(earlier[int(np.floor((1 - holdout_fraction) * earlier.size))])
    started = time.perf_counter()
    trials, baseline, n_shoppers = _validate(
        purchases, cut=cut, end=holdout, budget=budget_seconds, warm_start=warm_start, k=k
    )
    record.update(
        validation_cut=cut,
        validation_shoppers=n_shoppers,
        own_most_frequent_validation_ndcg=baseline,
        trials=trials,
        seconds=round(time.perf_counter() - started, 2),
    )
    if n_shoppers < MIN_SHOPPERS or not trials:
        record["note"] = f"fewer than {MIN_SHOPPERS} validation shoppers: the slot is unchanged"
        return RepeatTraining(None, items, users, record)
    best = max(trials, key=lambda t: t["ndcg"])
    if holdout < end:
        best = _searched_or_defaults(purchases, best, trials, start=holdout, end=end, k=k)
        record["holdout"] = best["holdout"]
        if "defaults_holdout" in best:  # the search chose other than the defaults
            record["search_holdout"] = best["search_holdout"]
            record["defaults_holdout"] = best["defaults_holdout"]
            record["holdout_kept"] = "defaults" if best["params"] == DEFAULT else "search"
    record["chosen"] = best["params"]
    record["validation_ndcg"] = best["ndcg"]
    if not best["ndcg"] > baseline:
        record["note"] = "does not beat own most frequent on validation: the slot is unchanged"
        return RepeatTraining(None, items, users, record)
    model = _fit(purchases, best["params"], before=end)
    record["note"] = "serves buy again"
    return RepeatTraining(model, items, users, record)


def _searched_or_defaults(
    purchases: Purchases,
    best: dict[str, Any],
    trials: list[dict[str, Any]],
    *,
    start: float,
    end: float,
    k: int,
) -> dict[str, Any]:
    """The search's best trial, or the defaults' when they score higher on the holdout
    [start, end), each with its holdout record: the rule every ``for_you`` algorithm follows
    (``pipeline._tuned_or_defaults``). A validation window of a few weeks separates the
    search's candidates by less than its noise: on Online Retail the search chose a 365-day
    half-life (validation 1.023x own most frequent, the defaults 1.012x), which the
    holdout scored 1.049x against the defaults' 1.079x (bench/README "Stop 21")."""
    searched = {**best, "holdout": _holdout(purchases, best["params"], start=start, end=end, k=k)}
    defaults = next((t for t in trials if t["params"] == DEFAULT), None)
    if defaults is None or best["params"] == DEFAULT:
        return searched
    plain = _holdout(purchases, DEFAULT, start=start, end=end, k=k)
    compared = {"search_holdout": searched["holdout"], "defaults_holdout": plain}
    if plain.get("ndcg", 0.0) > searched["holdout"].get("ndcg", 0.0):
        return {**defaults, "holdout": plain, **compared}
    return {**searched, **compared}


def _fit(purchases: Purchases, params: dict[str, Any], *, before: float) -> RepeatModel:
    history = purchases.decayed(now=before, half_life_days=params["half_life_days"])
    popularity = purchases.popularity(
        before=before, half_life_days=params["popularity_half_life_days"]
    )
    return RepeatModel(**params).fit(history, popularity=popularity)


def _validate(
    purchases: Purchases,
    *,
    cut: float,
    end: float,
    budget: float,
    warm_start: dict[str, Any] | None,
    k: int,
) -> tuple[list[dict[str, Any]], float, int]:
    """(every trial's params and NDCG@k, own most frequent's NDCG@k, shoppers scored) on
    purchases in [cut, end) of shoppers who bought before ``cut``."""
    target = purchases.between(cut, end)
    counts = purchases.decayed(now=cut, half_life_days=1e9)  # plain counts (no decay)
    users = _sample(np.flatnonzero((np.diff(counts.indptr) > 0) & (np.diff(target.indptr) > 0)))
    if users.size == 0:
        return [], 0.0, 0
    baseline_recs, _ = most_frequent_scores(counts, purchases.popularity(before=cut), users, n=k)
    baseline = float(ndcg_at_k(baseline_recs, target[users], k=k))
    started = time.perf_counter()
    trials: list[dict[str, Any]] = []
    tried: set[tuple] = set()
    for stage in _stages(warm_start):
        best = max(trials, key=lambda t: t["ndcg"])["params"] if trials else dict(DEFAULT)
        for params in stage(best):
            if trials and time.perf_counter() - started > budget:
                return trials, baseline, int(users.size)
            key = tuple(params[name] for name in DEFAULT)
            if key in tried:
                continue
            tried.add(key)
            history = purchases.decayed(now=cut, half_life_days=params["half_life_days"])
            popularity = purchases.popularity(
                before=cut, half_life_days=params["popularity_half_life_days"]
            )
            model = RepeatModel(**params).fit(history, popularity=popularity)
            recs, _ = model.recommend(history[users], n=k, users=users)
            trials.append({"params": params, "ndcg": float(ndcg_at_k(recs, target[users], k=k))})
    return trials, baseline, int(users.size)


def _sample(users: np.ndarray) -> np.ndarray:
    """At most SHELFWISE_EVAL_MAX_SHOPPERS of ``users``, a seeded sample: what scoring a window
    costs stops growing with the shop (each scored shopper is compared with every other)."""
    limit = settings.SHELFWISE_EVAL_MAX_SHOPPERS
    return sample_users(users, limit) if limit else users


def _stages(warm_start: dict[str, Any] | None):
    """Candidate generators, each given the best parameters so far: the warm start and the
    defaults; every half-life; every blend at the best half-life; every popularity weight at
    the best of those; every popularity half-life at the best weight; then the rest of the
    grid. A short budget still covers each axis (a grid in order spent it all on the first
    half-life)."""
    first = [dict(DEFAULT)]
    if warm_start:
        first.insert(0, {**DEFAULT, **{n: warm_start[n] for n in DEFAULT if n in warm_start}})
    yield lambda _best: first
    yield lambda best: [{**best, "half_life_days": h} for h in HALF_LIVES]
    yield lambda best: [{**best, "alpha": a, "neighbours": n} for a, n in BLENDS]
    yield lambda best: [{**best, "popularity_weight": w} for w in POPULARITY_WEIGHTS]
    yield lambda best: [{**best, "popularity_half_life_days": p} for p in POPULARITY_HALF_LIVES]
    yield lambda _best: [
        {
            "half_life_days": h,
            "alpha": a,
            "neighbours": n,
            "popularity_weight": w,
            "popularity_half_life_days": p,
        }
        for h in HALF_LIVES
        for a, n in BLENDS
        for w in POPULARITY_WEIGHTS
        for p in POPULARITY_HALF_LIVES
    ]


def _holdout(
    purchases: Purchases, params: dict[str, Any], *, start: float, end: float, k: int
) -> dict[str, Any]:
    """The chosen parameters and own most frequent, fitted before ``start``, on [start, end)."""
    target = purchases.between(start, end)
    counts = purchases.decayed(now=start, half_life_days=1e9)
    users = _sample(np.flatnonzero((np.diff(counts.indptr) > 0) & (np.diff(target.indptr) > 0)))
    if users.size == 0:
        return {"shoppers": 0}
    model = _fit(purchases, params, before=start)
    history = purchases.decayed(now=start, half_life_days=params["half_life_days"])
    recs, _ = model.recommend(history[users], n=k, users=users)
    baseline, _ = most_frequent_scores(counts, purchases.popularity(before=start), users, n=k)
    ours = float(ndcg_at_k(recs, target[users], k=k))
    theirs = float(ndcg_at_k(baseline, target[users], k=k))
    return {"shoppers": int(users.size), "ndcg": ours, "own_most_frequent_ndcg": theirs}


@dataclass
class BuyAgainForRun:
    """A run's buy-again outcome: the record it keeps under ``stats["buy_again"]`` and, when
    the model serves, the path (``record["artifact"]``) the run writes it to with its other
    artifacts."""

    record: dict[str, Any]
    training: RepeatTraining | None = None
    key: uuid.UUID | None = None
    attempted: bool = False  # write() started: files may exist at the path

    @property
    def paths(self) -> list[str]:
        return [self.record["artifact"]] if self.key else []

    def write(self) -> None:
        if self.key and self.training is not None and self.training.model is not None:
            self.attempted = True
            write_repeat_artifact(
                model=self.training.model,
                items=self.training.items,
                users=self.training.users,
                key=self.key,
            )


def buy_again_for_run(
    *, events: EventArrays, holdout_start: float | None, budget_seconds: float
) -> BuyAgainForRun:
    """Train the run's buy-again model; ``write()`` stores it once the run saves artifacts."""
    training = train_repeat(
        events,
        holdout_start=holdout_start,
        budget_seconds=budget_seconds,
        warm_start=last_buy_again_choice() if budget_seconds > 0 else None,
        k=settings.SHELFWISE_EVAL_K,
        holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION,
    )
    if training is None:
        return BuyAgainForRun({"note": "no purchases: the slot is unchanged"})
    if not training.serves:
        return BuyAgainForRun(dict(training.record), training)
    key = uuid.uuid4()
    return BuyAgainForRun({**training.record, "artifact": repeat_artifact_path(key)}, training, key)
