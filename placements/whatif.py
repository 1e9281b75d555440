"""What-if on recent traffic: a placement replayed on the last N days twice, as it is live and
with draft rules, through the replay evaluator (``recommender.replay``), side by side.

1. The window: the cut T is the start of the UTC day N days before the newest traffic (now,
   or the newest event when the shop's history ended earlier, as an imported file's did).
2. ``replay_data(cut=T)``: the replay's split; shoppers with a product before T and a new
   product after it are scored against those new products (the replay protocol).
3. The champions' algorithms refitted with their own parameters (no tuning) on the events
   before T, kept per (cut day, champion versions): a list at T never sees a later event.
4. Each shopper's placement at ``now=T``, once with the live rules and once with the drafts
   added; both lists scored (``whatif_scoring``) and compared in a sentence.

Schedules are not replayed: live rules in force today and the chosen drafts (whatever their
dates) count as in force over the whole window, the question being "what does this change do".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from behavior.selectors import purchased_since
from behavior.volume_selectors import latest_event_time
from placements.candidates import Candidate, candidates_from
from placements.models import Context, Placement, Rule, RuleState
from placements.selectors import placement_rules
from placements.services import PlacedList, placement_recommendations
from placements.whatif_scoring import Tally, compare, rule_targets
from recommender.replay.models import fit_scratch_models, is_personal
from recommender.replay.services import ReplayData, ReplayError, replay_data
from recommender.selectors import champion_versions
from recommender.serving.catalog_state import CatalogSnapshot, catalog_at, current_catalog
from recommender.serving.model_cache import (
    ServingModel,
    champion_models,
    neighbour_model,
    personal_model,
)
from recommender.training.fitting import Configuration

MAX_DAYS = 90
DEFAULT_DAYS = 7
# Scratch models kept in this process: a what-if repeated on the same day with the same
# champions reuses the fit (the costliest stage on Online Retail, see bench/whatif.py).
_MODELS: dict[tuple, tuple[dict[str, ServingModel], dict]] = {}
_MODELS_KEPT = 2
_lock = threading.Lock()

Progress = Callable[[float, str], None]


class WhatIfError(ValueError):
    """The what-if cannot run as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class WhatIfReport:
    placement: str
    days: int
    cut: datetime
    end: datetime
    result: dict  # the comparison (``whatif_scoring.compare``) and the facts
    # Shopper external id → (live skus, draft skus): what each version showed.
    lists: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "placement": self.placement,
            "days": self.days,
            "cut": self.cut.isoformat(),
            "end": self.end.isoformat(),
            **self.result,
        }


def _silent(_percent: float, _stage: str) -> None:
    """No one is watching (tests, the benchmark's own timer)."""


def whatif_rules(
    *, placement: Placement, rule_ids: list[int] | None, now: datetime
) -> tuple[list[Rule], list[Rule]]:
    """(live rules in force at ``now``, the same plus the chosen drafts), highest priority
    first. Raises ``WhatIfError`` for a rule id that is no draft on the placement, or when
    there is no draft to try."""
    rules = placement_rules(placement=placement)
    live = [r for r in rules if r.state == RuleState.LIVE and r.in_window(now)]
    drafts = [r for r in rules if r.state == RuleState.DRAFT]
    if rule_ids:
        by_id = {r.pk: r for r in drafts}
        unknown = [str(pk) for pk in rule_ids if pk not in by_id]
        if unknown:
            raise WhatIfError(
                "rule", f"No draft rule {', '.join(unknown)} on {placement.name}: try its drafts."
            )
        drafts = [by_id[pk] for pk in dict.fromkeys(rule_ids)]
    if not drafts:
        raise WhatIfError(
            "rule", f"{placement.name} has no draft rule: add one to see what it would change."
        )
    chosen = sorted(live + drafts, key=lambda r: (-r.priority, r.pk))
    return live, chosen


def traffic_window(*, days: int, now: datetime) -> tuple[datetime, datetime]:
    """(cut, end): ``end`` is now, or the newest event when traffic stopped over ``days``
    ago; the cut is the start of the UTC day ``days`` before ``end``."""
    if not 1 <= days <= MAX_DAYS:
        raise WhatIfError("days", f"Days must lie between 1 and {MAX_DAYS}, not {days}.")
    latest = latest_event_time()
    if latest is None:
        raise WhatIfError("days", "No events yet: there is no traffic to replay.")
    end = now if latest >= now - timedelta(days=days) else latest
    start = (end - timedelta(days=days)).astimezone(UTC)
    return start.replace(hour=0, minute=0, second=0, microsecond=0), end


def run_whatif(
    *,
    placement: Placement,
    now: datetime,
    days: int = DEFAULT_DAYS,
    rule_ids: list[int] | None = None,
    max_shoppers: int | None = None,
    seed: int = 0,
    progress: Progress = _silent,
) -> WhatIfReport:
    """The placement replayed on the last ``days`` of traffic, live versus with the drafts
    (all, or ``rule_ids``). Raises ``WhatIfError`` for bad input or nothing to replay."""
    if max_shoppers is not None and max_shoppers < 1:
        raise WhatIfError("max_shoppers", "Score at least one shopper.")
    live_rules, draft_rules = whatif_rules(placement=placement, rule_ids=rule_ids, now=now)
    cut, end = traffic_window(days=days, now=now)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    progress(2, "reading the events")
    try:
        data = replay_data(cut=cut)
    except ReplayError as exc:
        raise WhatIfError("days", f"Nothing to replay over the last {days} days: {exc}") from exc
    users = _sample(data.split.eval_users, max_shoppers, seed)
    seconds["read events"] = time.perf_counter() - clock
    clock = time.perf_counter()
    models, model_facts = replay_models(cut=cut, progress=progress)
    seconds["fit models"] = time.perf_counter() - clock
    catalog = catalog_at(current_catalog(), now=cut)  # the catalogue the replay serves
    # Exposure of what the drafts target, measured in both versions.
    targets = rule_targets([r for r in draft_rules if r not in live_rules], catalog)
    tallies = (
        Tally(users=users, k=placement.k, catalog=catalog, targets=targets),
        Tally(users=users, k=placement.k, catalog=catalog, targets=targets),
    )
    report = WhatIfReport(placement.name, days, cut, end, result={})
    versions = {"serve live": live_rules, "serve with drafts": draft_rules}
    replay = {
        "placement": placement,
        "data": data,
        "cut": cut,
        "models": models,
        "code_of": {int(pk): code for code, pk in enumerate(data.product_pks.tolist())},
    }
    for row, user in enumerate(users.tolist()):
        if row % max(1, users.size // 50) == 0:
            progress(40 + 55 * row / users.size, f"replaying shopper {row + 1:,} of {users.size:,}")
        shown = _serve_versions(user, row, versions, tallies, seconds=seconds, **replay)
        report.lists[str(data.external_ids[user])] = shown
    clock = time.perf_counter()
    progress(96, "scoring")
    bought = purchased_since(shopper_ids=data.shopper_pks[users].tolist(), start=cut)
    shoppers = [bought.get(int(pk), {}) for pk in data.shopper_pks[users].tolist()]
    report.result = compare(
        tallies[0], tallies[1], split=data.split, bought=shoppers, days=days, seed=seed
    )
    seconds["score"] = time.perf_counter() - clock
    report.result["facts"] = {
        "n_eligible_shoppers": int(data.split.eval_users.size),
        "n_scored_shoppers": int(users.size),
        "live_rules": [r.pk for r in live_rules],
        "draft_rules": [{"id": r.pk, "name": r.name} for r in draft_rules if r not in live_rules],
        "models": model_facts,
        "stage_seconds": {name: round(value, 2) for name, value in seconds.items()},
    }
    progress(100, "done")
    return report


def replay_models(
    *, cut: datetime, progress: Progress = _silent
) -> tuple[dict[str, ServingModel], dict]:
    """The champions' algorithms serving reads (``serving_algorithms``), fitted with their own
    parameters on the events before ``cut`` (no tuning: the champion's choice stands), reused
    per (cut, champions)."""
    wanted = serving_algorithms(champion_models())
    champions = [
        row
        for row in champion_versions().values_list("algorithm", "uuid", "params")
        if row[0] in wanted
    ]
    if not champions:
        raise WhatIfError("placement", "No model serves yet: train one before a what-if.")
    key = (cut.isoformat(), tuple(sorted((name, str(uuid)) for name, uuid, _ in champions)))
    with _lock:
        hit = _MODELS.get(key)
    if hit is not None:
        return hit[0], {**hit[1], "reused": True}
    configurations = {name: Configuration.from_dict(params or {}) for name, _, params in champions}

    def track(names, **_options):
        names = list(names)
        for number, name in enumerate(names):
            progress(8 + 32 * number / len(names), f"fitting {name} on the events before the cut")
            yield name

    models, facts, _ = fit_scratch_models(
        until=cut, algorithms=None, track=track, configurations=configurations
    )
    facts = {
        "fitted_before": cut.isoformat(),
        "algorithms": sorted(models),
        "training_events": facts["training_events"],
        "failed": facts["failed"],
        "seconds": {name: fitted["seconds"] for name, fitted in facts["models"].items()},
        "reused": False,
    }
    with _lock:
        while len(_MODELS) >= _MODELS_KEPT:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = (models, facts)
    return models, facts


def serving_algorithms(champions: dict[str, ServingModel]) -> set[str]:
    """What serving reads today: the model behind "for you", the neighbour model of product
    lists and every non-personalised one (popularity, trending, the content index). The other
    personalised champions serve nothing and cost the most to refit (ALS, EASE: 110 s of a
    203 s what-if on Online Retail when all six were fitted, bench/README.md)."""
    served = [personal_model(champions), neighbour_model(champions)]
    wanted = {model.algorithm for model in served if model is not None}
    return wanted | {name for name, m in champions.items() if not is_personal(m)}


def forget_replay_models() -> None:
    """Drop the kept scratch models (tests)."""
    with _lock:
        _MODELS.clear()


def _sample(users: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or users.size <= limit:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=limit, replace=False))


def _request(
    placement: Placement, data: ReplayData, user: int, *, cut: datetime, models: dict
) -> dict:
    """The placement request of one replayed shopper at the cut: a product or cart placement
    is about the product the shopper most recently discovered before it."""
    request = {"placement": placement, "now": cut, "models": models}
    request["shopper"] = str(data.external_ids[user])
    if placement.context != Context.SHOPPER or placement.about_product:
        times = data.split.train_times
        start, stop = times.indptr[user], times.indptr[user + 1]
        newest = times.indices[start + int(np.argmax(times.data[start:stop]))]
        sku = str(data.skus[newest])
        if placement.context == Context.CART:
            request["cart"] = (sku,)
        else:
            request["product"] = sku
    return request


def _serve_versions(
    user: int,
    row: int,
    versions: dict[str, list[Rule]],
    tallies: tuple[Tally, Tally],
    *,
    placement: Placement,
    data: ReplayData,
    cut: datetime,
    models: dict[str, ServingModel],
    code_of: dict[int, int],
    seconds: dict[str, float],
) -> tuple[list[str], list[str]]:
    """One shopper's placement under each version's rules, tallied; the skus each showed."""
    request = _request(placement, data, user, cut=cut, models=models)
    request["served_lists"] = {}  # both versions rank the same model lists
    shown = []
    for tally, (name, rules) in zip(tallies, versions.items(), strict=True):
        clock = time.perf_counter()
        placed = placement_recommendations(rules=rules, **request)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - clock
        tally.add(row, _candidates(placed, tally.catalog, cut), codes=_codes(code_of, placed))
        shown.append([item.recommendation.product.sku for item in placed.items])
    return shown[0], shown[1]


def _candidates(placed: PlacedList, catalog: CatalogSnapshot, cut: datetime) -> list[Candidate]:
    """A shown list with the attributes rules match on (category, promoted at the cut)."""
    return candidates_from([item.recommendation for item in placed.items], catalog=catalog, now=cut)


def _codes(code_of: dict[int, int], placed: PlacedList) -> list[int]:
    """The replay's item codes of a list (-1: a product without events)."""
    return [code_of.get(item.recommendation.product.id, -1) for item in placed.items]
