"""The search spaces of per-shop tuning (``search_spaces.toml``) and how a study walks them:
each trial's values, the known configurations clipped into a space, and the trials enqueued
ahead of the sampler's (long live memories, the sweep of serving-side values)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import optuna

from recommender.training.fitting import REALTIME_HALF_LIFE, REALTIME_LOG1P

SEARCH_SPACES_PATH = Path(__file__).with_name("search_spaces.toml")
# Live rows at a 90-day half-life, each product's summed weight damped: on Online Retail served
# EASE 0.0796 -> 0.0888 NDCG@10 at 720 h, item-kNN 0.109 -> 0.115 (0.117 without decay), both
# against the 72 h setting; the fashion demo's searches chose 2,100 h and more.
LONG_MEMORY = {REALTIME_HALF_LIFE: 2160.0, REALTIME_LOG1P: True}
# A "sweep" parameter changes how a fitted model serves, not the fit (the popularity penalty):
# after the search, the best trial is scored at each of its values on one fit of it (kept from
# its trial when small, ``trials.Fits``), that time kept out of the search's. TPE never samples
# it: a trial with a large penalty would tell TPE little about the fit's own parameters.
SWEEP = "sweep"


def search_spaces(path: Path = SEARCH_SPACES_PATH) -> dict[str, dict[str, dict[str, Any]]]:
    """Algorithm -> parameter -> its range, as the TOML file declares them."""
    with path.open("rb") as handle:
        return tomllib.load(handle)


def enqueue_long_memory(study: optuna.Study, space: dict[str, dict[str, Any]]) -> None:
    """The best known trial scored from long, damped live rows, searched first: it won on both
    shops measured (LONG_MEMORY), and a short budget's few trials may never reach it."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done or not set(LONG_MEMORY) <= set(space):
        return
    best = max(done, key=lambda t: (t.value, -t.number))
    study.enqueue_trial({**best.params, **LONG_MEMORY}, skip_if_exists=True)


def enqueue_sweep(
    study: optuna.Study,
    space: dict[str, dict[str, Any]],
    swept: list[str],
    *,
    best: optuna.trial.FrozenTrial,
) -> int:
    """``best`` at each other value of each ``swept`` parameter (one at a time, the others as
    it had them); how many trials were enqueued."""
    enqueued = 0
    for name in swept:
        at = best.params.get(name, space[name]["values"][0])
        for value in space[name]["values"]:
            if value != at:
                study.enqueue_trial({**best.params, name: value}, skip_if_exists=True)
                enqueued += 1
    return enqueued


def suggest(
    trial: optuna.trial.Trial, space: dict[str, dict[str, Any]], *, sweeping: bool = False
) -> dict[str, Any]:
    """A trial's values of ``space``; a sweep parameter only while ``sweeping`` (else the
    defaults' value, or the first of its values, serves)."""
    values: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == SWEEP:
            if sweeping:
                values[name] = trial.suggest_categorical(name, spec["values"])
        elif kind == "fixed":
            values[name] = spec["value"]
        elif kind == "choice":
            values[name] = none_of(trial.suggest_categorical(name, spec["values"]))
        elif kind == "int":
            values[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        elif kind == "float":
            values[name] = trial.suggest_float(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        else:
            raise ValueError(f"{name}: unknown search type {kind!r}")
    return values


def within(values: dict[str, Any], space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``values`` as trial parameters: only searched names, clipped to their ranges (a default
    outside the range, such as no decay, is moved to the nearest end)."""
    enqueued: dict[str, Any] = {}
    for name, spec in space.items():
        if name not in values or spec["type"] in ("fixed", SWEEP):
            continue
        value = values[name]
        if spec["type"] == "choice":
            value = "none" if value is None else value
            if value in spec["values"]:
                enqueued[name] = value
        elif value is None:
            enqueued[name] = spec["high"]
        else:
            value = min(max(value, spec["low"]), spec["high"])
            enqueued[name] = round(value) if spec["type"] == "int" else float(value)
    return enqueued


def none_of(value: Any) -> Any:
    return None if value == "none" else value
