"""EASE past its dense limit, item-kNN and popularity side by side on a large and a small shop.

Issue 14: past ``dense_items`` products EASE takes only the most-supported ones as inputs
(``recommender/core/ease.py``); item-kNN's BM25 normalises against the interaction-weighted mean
length (``core.knn.bm25_reference_length``). This prints, per model, holdout NDCG@10 with its
95 % interval, the paired ratio to the first row (the reference) with its bootstrap interval,
catalogue coverage, fit seconds (wall and CPU) and the fit's peak memory, on:

- the demo's shop (``demo.synthetic.plan_shop``, drawn in memory, no database) at ``--scale``
  (10: 20,000 products);
- Online Retail (3,635 products, below the limit): full EASE is the reference, and EASE with
  only 2,048 or 1,024 inputs shows what the approximation costs where it can be checked.

Each model is fitted and scored in a forked child, one at a time, with the pipeline's own
matrices (kind weights, decay, serving rows) and default parameters::

    nice -n 10 .venv/bin/python -m bench.large_catalog                 # both shops
    nice -n 10 .venv/bin/python -m bench.large_catalog --full-ease     # + full EASE at 20k

``--full-ease`` adds the whole-Gram EASE on the demo shop (about 10 minutes and 5 GB there).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import django
import numpy as np

SEED = 7
NOW = datetime(2025, 6, 1, tzinfo=UTC)
ONLINE_RETAIL = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", nargs="+", default=["demo", "online_retail"])
    parser.add_argument("--scale", type=float, default=10.0, help="demo shop scale (10: 20k)")
    parser.add_argument("--full-ease", action="store_true", help="full EASE on the demo too")
    parser.add_argument("--max-shoppers", type=int, default=5_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings

    dense = settings.SHELFWISE_EASE_DENSE_ITEMS
    for shop in args.shops:
        started = time.perf_counter()
        events = demo_events(args.scale) if shop == "demo" else online_retail_events()
        from recommender.training.pipeline import split_events

        data = split_events(events, holdout_fraction=settings.SHELFWISE_HOLDOUT_FRACTION)
        n_items = len(data.items)
        print(
            f"\n{shop}: {len(events):,} events, {len(data.users):,} shoppers x {n_items:,} "
            f"products in training, {data.train.nnz:,} cells ({time.perf_counter() - started:.0f}"
            " s to build)",
            flush=True,
        )
        if n_items > dense:
            rows = [("ease", {"dense_items": n_items})] if args.full_ease else []
            rows += [("ease", {"dense_items": dense}), ("ease", {"dense_items": dense // 2})]
        else:
            rows = [
                ("ease", {}),
                ("ease", {"dense_items": 2_048}),
                ("ease", {"dense_items": 1_024}),
            ]
        rows += [("item_knn", {}), ("popularity", {})]
        _compare(data, rows, max_shoppers=args.max_shoppers)


def _compare(data, rows: list[tuple[str, dict]], *, max_shoppers: int) -> None:
    from recommender.core.evaluation import paired_bootstrap_ratio

    header = f"{'model':<26}{'NDCG@10':>9}{'±95%':>8}{'vs first [95% CI]':>26}"
    print(header + f"{'coverage':>10}{'fit s':>8}{'CPU s':>8}{'peak GB':>9}", flush=True)
    reference = None
    for algorithm, overrides in rows:
        result = _in_child(data, algorithm, overrides, max_shoppers)
        ndcg = result["ndcg"]
        reference = ndcg if reference is None else reference
        ratio, low, high = paired_bootstrap_ratio(ndcg, reference)
        label = algorithm + "".join(f" {key}={value:,}" for key, value in overrides.items())
        spread = 1.96 * ndcg.std(ddof=1) / np.sqrt(ndcg.size)
        print(
            f"{label:<26}{ndcg.mean():9.4f}{spread:8.4f}"
            f"{f'{ratio:.3f} [{low:.3f}, {high:.3f}]':>26}"
            f"{result['coverage']:10.3f}{result['fit_seconds']:8.1f}{result['cpu_seconds']:8.1f}"
            f"{result['peak_gb']:9.2f}",
            flush=True,
        )


def _in_child(data, algorithm: str, overrides: dict, max_shoppers: int) -> dict:
    """Fit and score in a forked child: its fit time and peak memory are the model's alone."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_fit_and_score, args=(send, data, algorithm, overrides, max_shoppers)
    )
    child.start()
    send.close()
    result = pickle.loads(receive.recv_bytes())
    child.join()
    return result


def _fit_and_score(send, data, algorithm: str, overrides: dict, max_shoppers: int) -> None:
    from django.conf import settings
    from threadpoolctl import threadpool_limits

    from recommender.core.evaluation import catalog_coverage, per_user_metrics
    from recommender.training.evaluation import AlignedModel
    from recommender.training.fitting import Configuration, fit_configuration

    baseline_kb = _rss_kb()
    params = {**settings.SHELFWISE_ALGORITHM_PARAMS.get(algorithm, {}), **overrides}
    half_life = settings.SHELFWISE_ALGORITHM_HALF_LIFE_DAYS.get(
        algorithm, settings.SHELFWISE_HALF_LIFE_DAYS
    )
    configuration = Configuration(params=params, half_life_days=half_life)
    started, cpu_started = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=settings.SHELFWISE_TRAINING_BLAS_THREADS):
        model, items, _ = fit_configuration(algorithm, configuration, data=data)
    # CPU seconds of every thread: on a shared machine the wall time mostly measures the others.
    fit_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_gb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb) / 1024**2
    users = _scored_shoppers(data, max_shoppers)
    aligned = AlignedModel(model, model_items=items, items=data.items, score_rows=data.score_rows)
    recommended = np.concatenate(
        [
            aligned.recommend(users[start : start + 512], data.train, n=10)[0]
            for start in range(0, users.size, 512)
        ]
    )
    ndcg = per_user_metrics(recommended, data.test[users], 10)["ndcg"]
    coverage = catalog_coverage(recommended, len(data.items))
    result = {"ndcg": ndcg, "coverage": coverage, "peak_gb": peak_gb}
    result.update(fit_seconds=fit_seconds, cpu_seconds=cpu_seconds)
    send.send_bytes(pickle.dumps(result))
    send.close()


def _scored_shoppers(data, max_shoppers: int) -> np.ndarray:
    """The holdout shoppers ``core.evaluation.evaluate`` scores: a seeded sample of those with
    training history and something touched after the cut."""
    eligible = (np.diff(data.test.indptr) > 0) & (np.diff(data.train.indptr) > 0)
    users = np.flatnonzero(eligible)
    if users.size > max_shoppers:
        users = np.sort(np.random.default_rng(0).choice(users, size=max_shoppers, replace=False))
    return users


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def demo_events(scale: float):
    """The demo shop's product events as the training pipeline loads them (pks from 1)."""
    from demo.synthetic import plan_shop
    from recommender.training.dataset import EventArrays

    events = plan_shop(seed=SEED, now=NOW, scale=scale).events
    product = np.asarray(events.product)
    keep = product >= 0
    times = np.array([at.timestamp() for at in events.occurred_at])[keep]
    order = np.argsort(times, kind="stable")
    return EventArrays(
        (np.asarray(events.shopper)[keep] + 1)[order],
        (product[keep] + 1)[order],
        np.asarray(events.kind)[keep][order],
        np.asarray(events.value, dtype=np.float64)[keep][order],
        times[order],
        min(events.occurred_at),
        max(events.occurred_at),
    )


def online_retail_events():
    """Online Retail's purchases as ``import_online_retail`` stores them (value = quantity)."""
    from behavior.online_retail_lines import OnlineRetailReport, read_lines
    from recommender.training.dataset import EventArrays

    path = ONLINE_RETAIL / "online_retail" / "online_retail.csv.gz"
    purchases = read_lines(path, OnlineRetailReport(), False, datetime.now(UTC)).purchases
    _, shoppers = np.unique([p[1] for p in purchases], return_inverse=True)
    _, products = np.unique([p[2] for p in purchases], return_inverse=True)
    times = np.array([p[5].timestamp() for p in purchases])
    order = np.argsort(times, kind="stable")
    return EventArrays(
        shoppers[order] + 1,
        products[order] + 1,
        np.full(len(purchases), "purchase"),
        np.array([p[3] for p in purchases], dtype=np.float64)[order],
        times[order],
        min(p[5] for p in purchases),
        max(p[5] for p in purchases),
    )


if __name__ == "__main__":
    main()
