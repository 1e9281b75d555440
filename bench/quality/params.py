"""The benchmark's parameter tables (``params.toml``): reference figures, grids, tuned points.

TOML has no null, so ``"none"`` stands for None (as in ``recommender/training/search_spaces.toml``);
``dumps`` writes tables back in the same form, which is how ``--tune`` prints what it chose.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARAMS_PATH = Path(__file__).with_name("params.toml")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Tables:
    """``anchors[(dataset, split)][name]``: published NDCG@10; ``grids[label]``: what ``--tune``
    searches; ``defaults[label]``: the fixed starting point of a grid; ``tuned[dataset][split]
    [label]``: the chosen point a plain run uses."""

    anchors: dict[tuple[str, str], dict[str, float]]
    grids: dict[str, dict[str, list[Any]]]
    defaults: dict[str, dict[str, Any]]
    tuned: dict[str, dict[str, dict[str, dict[str, Any]]]]


def load(path: Path = PARAMS_PATH) -> Tables:
    """Read the tables, ``"none"`` turned into None."""
    with open(path, "rb") as handle:
        data = _none(tomllib.load(handle))
    anchors = {
        (dataset, split): figures
        for dataset, splits in data.get("anchors", {}).items()
        for split, figures in splits.items()
    }
    return Tables(anchors, data.get("grids", {}), data.get("defaults", {}), data.get("tuned", {}))


def dumps(table: dict[str, Any], name: str) -> str:
    """``table`` as TOML under the top-level key ``name`` (None written as ``"none"``)."""
    return "\n".join(_tables([name], table)).strip() + "\n"


def _none(value: Any) -> Any:
    if value == "none":
        return None
    if isinstance(value, dict):
        return {key: _none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_none(item) for item in value]
    return value


def _tables(path: list[str], table: dict[str, Any]) -> list[str]:
    scalars = {key: value for key, value in table.items() if not isinstance(value, dict)}
    lines = []
    if scalars or not table:
        lines += ["", f"[{'.'.join(_key(part) for part in path)}]"]
        lines += [f"{_key(key)} = {_value(value)}" for key, value in scalars.items()]
    for key, value in table.items():
        if isinstance(value, dict):
            lines += _tables([*path, key], value)
    return lines


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")
