"""Tune the training pipeline's defaults on a validation carve-out, never on the holdout.

The pipeline's holdout is the last SHELFWISE_HOLDOUT_FRACTION of time. This script drops it
unseen, then cuts the same fraction off the end of what remains: models are fitted on the
earlier part, exactly as ``train_models`` builds it (kind weights × value transform × time decay,
per-algorithm half-lives), and scored from the rows serving would build for each shopper
(``serving_rows``: their latest N events weighed from their own newest event with a real-time
half-life) on the validation slice. One fit is scored under every (half-life, N) without
refitting. Relevance is what ``build_training_data`` makes it: any touch after the cut.

Needs a database with events (``manage.py import_online_retail``)::

    DATABASE_URL=postgres://... DJANGO_SETTINGS_MODULE=config.settings \
        nice -n 10 .venv/bin/python -m bench.pipeline_tuning [--algorithms ease item_knn ...]

Prints one line per (algorithm, params, scoring rows) and, per algorithm, the best line.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import django

# Real-time half-lives in hours ("train" = the fitted training row as it is, the old holdout).
HALF_LIVES_HOURS: list[float | None] = [None, 24.0, 72.0, 168.0, 720.0, 2160.0, 8760.0]
RECENT_EVENTS: list[int | None] = [50, 200, None]
GRID: dict[str, list[dict]] = {
    "popularity": [{}],
    "trending": [{"per_user_cap": 1.0}],
    # The weighted matrix's cells are ~8 × log1p(quantity) ≈ 20 where binary data has 1, so the
    # Gram matrix is ~400× larger: lambda has to grow with it.
    "ease": [{"regularization": lam} for lam in (500.0, 5e3, 2e4, 5e4, 2e5, 1e6)],
    "item_knn": [
        {"similarity": "dot", "weighting": "bm25", "k_neighbors": 300, "bm25_k1": k1, "bm25_b": b}
        # k1 and b grow with the cell values too: the first pass (0.6–3, 0.25–0.75) peaked at
        # its corner, k1 3, b 0.75.
        for k1, b in itertools.product((0.6, 1.2, 3.0, 6.0, 12.0), (0.25, 0.5, 0.75, 1.0))
    ],
    # alpha scales confidence 1 + alpha * cell: cells ~20 here, ~1 in binary data.
    "als": [
        {"factors": f, "iterations": 15, "regularization": reg, "alpha": alpha}
        for f, reg, alpha in itertools.product((64,), (0.1, 1.0, 3.0), (0.1, 0.25, 0.5, 2.0, 10.0))
    ]
    # 128 factors scored below 64 at every alpha tried (0.1, 0.5, 2) with regularization 0.1.
    + [{"factors": 128, "iterations": 15, "regularization": 1.0, "alpha": 0.25}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithms", nargs="+", default=list(GRID), choices=list(GRID))
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    from django.conf import settings
    from threadpoolctl import threadpool_limits

    from behavior.kinds import event_weights
    from recommender.core import ALGORITHMS
    from recommender.training.dataset import build_training_data, load_events, serving_rows
    from recommender.training.evaluation import holdout_metrics

    options = {
        "kind_weights": event_weights(),
        "half_life_days": settings.SHELFWISE_HALF_LIFE_DAYS,
        "value_transform": settings.SHELFWISE_VALUE_TRANSFORM,
        "holdout_fraction": settings.SHELFWISE_HOLDOUT_FRACTION,
    }
    events = load_events(window_days=settings.SHELFWISE_TRAINING_WINDOW_DAYS)
    # The holdout is split off and never looked at again: only its training part is used.
    before_holdout = build_training_data(events, **options).train_events
    data = build_training_data(before_holdout, **options)
    print(
        f"events {len(events):,}; fit on {data.stats['train_events']:,} "
        f"(to {data.holdout_start:%Y-%m-%d}), validation {data.stats['holdout_events']:,} events, "
        f"{data.stats['holdout_users']:,} shoppers; matrix {data.train.shape}"
    )
    variants = {}
    for hours, limit in itertools.product(HALF_LIVES_HOURS, RECENT_EVENTS):
        if hours is None:
            if limit is None:
                variants["train row"] = None
            continue
        variants[f"{hours:g}h last {limit or 'all'}"] = serving_rows(
            data.train_events,
            users=data.users,
            items=data.items,
            kind_weights=options["kind_weights"],
            value_transform=options["value_transform"],
            half_life_hours=hours,
            limit=limit,
        )
    k = settings.SHELFWISE_EVAL_K
    print(f"{'algorithm':<11} {'params':<58} {'scoring rows':<18} {'NDCG@10':>8} {'cov':>6}")
    table: list[tuple[str, str, dict[str, float]]] = []
    for algorithm in args.algorithms:
        best = None
        half_life = settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS.get(
            algorithm, settings.SHELFWISE_HALF_LIFE_DAYS
        )
        train = data.train_with_half_life(half_life)
        for params in GRID[algorithm]:
            mark = time.perf_counter()
            with threadpool_limits(limits=settings.SHELFWISE_TRAINING_BLAS_THREADS):
                model = ALGORITHMS[algorithm](**params).fit(train)
            fit_seconds = time.perf_counter() - mark
            shown = ", ".join(f"{key}={value:g}" for key, value in params.items() if key in TUNED)
            table.append((algorithm, shown, {}))
            for name, rows in variants.items():
                metrics = holdout_metrics(
                    model,
                    model_items=data.items,
                    items=data.items,
                    train=data.train,
                    test=data.test,
                    k=k,
                    score_rows=rows,
                )
                ndcg = metrics[f"ndcg@{k}"]
                table[-1][2][name] = ndcg
                coverage = metrics["coverage"]
                line = f"{algorithm:<11} {shown:<58} {name:<18} {ndcg:8.4f} {coverage:6.3f}"
                print(line, flush=True)
                if best is None or ndcg > best[0]:
                    best = (ndcg, line)
            print(f"{'':<11} (fit {fit_seconds:.1f} s)", flush=True)
        print(f"BEST {best[1]}", flush=True)
    _print_table(table, list(variants))


def _print_table(table: list[tuple[str, str, dict[str, float]]], names: list[str]) -> None:
    """NDCG@10 of every fit (rows) under every scoring-row variant (columns)."""
    short = [name.replace(" last ", "/") for name in names]
    print("\nNDCG@10 on validation; columns: real-time half-life / latest events scored")
    print(f"{'algorithm':<11} {'params':<46}" + "".join(f"{name:>10}" for name in short))
    for algorithm, shown, scores in table:
        cells = "".join(f"{scores[name]:10.4f}" for name in names)
        print(f"{algorithm:<11} {shown:<46}{cells}")


TUNED = {"regularization", "alpha", "factors", "bm25_k1", "bm25_b", "per_user_cap"}

if __name__ == "__main__":
    main()
