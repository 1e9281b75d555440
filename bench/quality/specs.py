"""The table's rows: how each model is built from its params, and which params a run uses.

Grids, defaults and tuned points are data (``params.toml``); what stays here is code: which
class a row is and what it wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import scipy.sparse as sp

from bench.quality import THREADS, K
from bench.quality.models import BlendRow, Decayed, HeadTailRow, ImplicitModel
from bench.quality.params import load
from recommender.core import ALGORITHMS

TABLES = load()


@dataclass(frozen=True)
class Spec:
    """One table row: how to build the model from params, and the grid ``--tune`` searches."""

    label: str
    build: Callable[[dict[str, Any]], Any]
    reference: bool = False  # a row of the implicit library (the anchor side)
    needs: tuple[str, ...] = ()  # ALGORITHMS names that must be registered
    blend_of: tuple[str, ...] = ()  # labels of the members, for blends
    head_tail_of: str | None = None  # label of the tail row, for HeadTailRow (head: grid)

    @property
    def grid(self) -> dict[str, list[Any]]:
        return TABLES.grids.get(self.label, {})


def _ours(name: str, **fixed: Any) -> Callable[[dict[str, Any]], Any]:
    def build(params: dict[str, Any]) -> Any:
        return ALGORITHMS[name](**{**fixed, **params})

    return build


def _implicit(kind: str) -> Callable[[dict[str, Any]], Any]:
    return lambda params: ImplicitModel(kind, **params)


SPECS: list[Spec] = [
    Spec("popularity", _ours("popularity"), needs=("popularity",)),
    Spec("trending", _ours("trending"), needs=("trending",)),
    Spec(
        "item-kNN cosine",
        _ours("item_knn", similarity="cosine", num_threads=THREADS),
        needs=("item_knn",),
    ),
    # BM25 then the unnormalised dot product: implicit's BM25Recommender.
    Spec(
        "item-kNN bm25",
        _ours("item_knn", similarity="dot", weighting="bm25", num_threads=THREADS),
        needs=("item_knn",),
    ),
    # Item-item random walks with a popularity penalty: beta trades hits for coverage.
    Spec("RP3beta", _ours("rp3beta", num_threads=THREADS), needs=("rp3beta",)),
    Spec("user-kNN", _ours("user_knn"), needs=("user_knn",)),
    Spec("ALS", _ours("als", num_threads=THREADS), needs=("als",)),
    Spec("EASE", _ours("ease"), needs=("ease",)),
    Spec(
        "blend",
        lambda params: None,  # built by build() from the members' tuned params
        needs=("blend",),
        blend_of=("EASE", "item-kNN bm25", "ALS", "user-kNN", "RP3beta"),
    ),
    # The coverage re-rank (ranking.head_tail): the top slots from an accurate row (its
    # best-NDCG grid point, coverage floor ignored), the rest from RP3beta as tuned (the
    # floor usually makes it a long-tail model). The "blend" head is the accurate blend:
    # its members at their best-NDCG points, its weights at their best NDCG over them.
    Spec(
        "head+RP3 tail",
        lambda params: None,  # built by build() from "head", "head_params" and RP3beta's row
        needs=("rp3beta",),
        head_tail_of="RP3beta",
    ),
    Spec("implicit ALS", _implicit("als"), reference=True),
    Spec("implicit BPR", _implicit("bpr"), reference=True),
    Spec("implicit Cosine", _implicit("cosine"), reference=True),
    Spec("implicit BM25", _implicit("bm25"), reference=True),
]


def params_for(dataset: str, split: str, label: str) -> dict[str, Any]:
    """The tuned point of a row, else its defaults."""
    tuned = TABLES.tuned.get(dataset, {}).get(split, {})
    return dict(tuned.get(label, TABLES.defaults.get(label, {})))


def available(spec: Spec) -> bool:
    return all(name in ALGORITHMS for name in spec.needs)


def build(spec: Spec, params: dict[str, Any], ages: sp.csr_matrix, dataset: str, split: str) -> Any:
    """The model for ``spec`` with ``params``; ``half_life_days`` wraps it in ``Decayed``."""
    if spec.head_tail_of:
        by_label = {s.label: s for s in SPECS}
        head_label = params.get("head", spec.grid["head"][0])
        head_params = params.get("head_params", params_for(dataset, split, head_label))
        head = build(by_label[head_label], head_params, ages, dataset, split)
        tail_label = spec.head_tail_of
        tail = build(
            by_label[tail_label], params_for(dataset, split, tail_label), ages, dataset, split
        )
        return HeadTailRow(head, tail, int(params.get("n_head", K)))
    if spec.blend_of:
        by_label = {s.label: s for s in SPECS}
        labels = [label for label in spec.blend_of if available(by_label[label])]
        # "members" (the accurate blend, a head of head+RP3 tail) overrides the members' rows.
        chosen = params.get("members", {})
        members = [
            build(
                by_label[label],
                chosen.get(label, params_for(dataset, split, label)),
                ages,
                dataset,
                split,
            )
            for label in labels
        ]
        weights = params.get("weights", [1.0] * len(members))
        return BlendRow(members, weights, params.get("normalization", "minmax"))
    params = dict(params)
    half_life = params.pop("half_life_days", None)
    score_half_life = params.pop("score_half_life_days", None)
    model = spec.build(params)
    # Trending is popularity on a decayed matrix by definition; others may tune half-lives.
    if half_life is None and score_half_life is None:
        return model
    return Decayed(model, ages, half_life, score_half_life)
