"""The printed table of a split and its target line."""

from __future__ import annotations

import numpy as np

from bench.quality import K
from bench.quality.data import Prepared
from bench.quality.rows import Row
from bench.quality.specs import TABLES
from recommender.core.evaluation import (
    paired_bootstrap_ratio,
)

TARGET_RATIO = 1.05


def print_table(dataset: str, split: str, prepared: Prepared, rows: list[Row]) -> None:
    matrices = prepared.matrices
    n_test = int((np.diff(matrices.test.indptr) > 0).sum())
    print(
        f"\n== {dataset} / {split} split: train {matrices.train.nnz:,} on "
        f"{matrices.train.shape[0]:,}×{matrices.train.shape[1]:,}, test {matrices.test.nnz:,} "
        f"for {n_test:,} users ({matrices.n_cold_dropped:,} cold test pairs dropped)"
    )
    header = (
        f"{'model':<20}{'NDCG@10':>9}{'Rec@10':>9}{'MAP@10':>9}{'cover':>8}{'fit s':>8}"
        f"{'fit cpu':>8}{'rt ms':>8}{'rt cpu':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rt = "n/a" if row.realtime_ms is None else f"{row.realtime_ms:.2f}"
        rt_cpu = "n/a" if row.realtime_cpu_ms is None else f"{row.realtime_cpu_ms:.2f}"
        m = row.metrics
        print(
            f"{row.label:<20}{m[f'ndcg@{K}']:>9.4f}{m[f'recall@{K}']:>9.4f}{m[f'map@{K}']:>9.4f}"
            f"{m['coverage']:>8.3f}{row.fit_seconds:>8.2f}{row.fit_cpu_seconds:>8.2f}{rt:>8}"
            f"{rt_cpu:>8}"
        )


def target_line(dataset: str, split: str, rows: list[Row]) -> str:
    reference = [r for r in rows if r.reference]
    ours = [r for r in rows if not r.reference]
    if not reference or not ours:
        return f"TARGET {dataset}/{split}: not judged (missing rows)"
    key = f"ndcg@{K}"
    best_ref = max(reference, key=lambda r: r.metrics[key])
    anchor_name, anchor = f"implicit row {best_ref.label}", best_ref.metrics[key]
    for name, value in TABLES.anchors.get((dataset, split), {}).items():
        if value > anchor:
            anchor_name, anchor = f"reference {name}", value
    # Our best row among those whose coverage is no lower than the best implicit row's (the
    # target asks for both); the best row outright when none is.
    covering = [r for r in ours if r.metrics["coverage"] >= best_ref.metrics["coverage"]]
    best = max(covering or ours, key=lambda r: r.metrics[key])
    need = TARGET_RATIO * anchor
    ok_ndcg = best.metrics[key] >= need
    ok_cover = best.metrics["coverage"] >= best_ref.metrics["coverage"]
    verdict = "MET" if ok_ndcg and ok_cover else "MISSED"
    return (
        f"TARGET {dataset}/{split}: {verdict} — best ours {best.label} NDCG@10 "
        f"{best.metrics[key]:.4f} vs {TARGET_RATIO}×{anchor:.4f} ({anchor_name}) = {need:.4f}; "
        f"coverage {best.metrics['coverage']:.3f} vs {best_ref.metrics['coverage']:.3f} "
        f"({best_ref.label}){uncertainty(best, best_ref)}"
    )


def uncertainty(ours: Row, anchor: Row) -> str:
    """How far chance alone moves the ratio of two rows' NDCG@10 on this split's shoppers: the
    paired bootstrap interval of ``ours / anchor`` (``anchor`` is the best ``implicit`` row)."""
    if ours.per_user_ndcg is None or anchor.per_user_ndcg is None:
        return ""
    ratio, low, high = paired_bootstrap_ratio(ours.per_user_ndcg, anchor.per_user_ndcg)
    return (
        f"; {ours.label}/{anchor.label} = {ratio:.2f}× (95 % paired bootstrap {low:.2f}–"
        f"{high:.2f}× over {ours.per_user_ndcg.size} shoppers)"
    )
