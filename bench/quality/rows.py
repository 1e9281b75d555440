"""One table row: a model fitted on a split, its metrics, fit time and real-time latency."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.quality import REALTIME_REQUESTS, SEED, K
from bench.quality.data import Prepared
from bench.quality.specs import Spec, build
from recommender.core.evaluation import (
    evaluate,
    per_user_metrics,
)


@dataclass
class Row:
    label: str
    metrics: dict[str, float]
    fit_seconds: float
    realtime_ms: float | None
    params: dict[str, Any] = field(default_factory=dict)
    reference: bool = False
    fit_cpu_seconds: float = 0.0
    realtime_cpu_ms: float | None = None
    # NDCG@10 of each scored test shopper, in user order: the same shoppers in every row.
    per_user_ndcg: np.ndarray | None = None


def realtime_ms(model: Any, prepared: Prepared) -> tuple[float, float] | None:
    """Median wall and CPU ms of ``recommend_from_items`` for sampled test shoppers, own items
    excluded. CPU is this thread's time: what the request costs even when a loaded machine
    makes it wait for a core (for ``implicit`` it misses work done on its own threads)."""
    users = np.flatnonzero(np.diff(prepared.test.indptr) > 0)
    rng = np.random.default_rng(SEED)
    users = rng.choice(users, size=min(REALTIME_REQUESTS, users.size), replace=False)
    train = prepared.train
    timings, cpu = [], []
    try:
        # One BLAS thread, as a web worker serves a request.
        with threadpool_limits(1, "blas"):
            for user in users:
                items = train.indices[train.indptr[user] : train.indptr[user + 1]]
                start, start_cpu = time.perf_counter(), time.thread_time()
                model.recommend_from_items(items, n=K, exclude=items)
                cpu.append(time.thread_time() - start_cpu)
                timings.append(time.perf_counter() - start)
    except NotImplementedError:
        return None
    return float(np.median(timings) * 1000), float(np.median(cpu) * 1000)


def run_row(
    spec: Spec, params: dict[str, Any], prepared: Prepared, dataset: str, split: str
) -> Row:
    model = build(spec, params, prepared.ages, dataset, split)
    start, start_cpu = time.perf_counter(), time.process_time()
    model.fit(prepared.train)
    fit_seconds, fit_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    metrics = evaluate(model, prepared.train, prepared.test, k=K)
    realtime = realtime_ms(model, prepared)
    return Row(
        spec.label,
        metrics,
        fit_seconds,
        None if realtime is None else realtime[0],
        params,
        spec.reference,
        fit_cpu,
        None if realtime is None else realtime[1],
        per_user_ndcg(model, prepared),
    )


def per_user_ndcg(model: Any, prepared: Prepared) -> np.ndarray:
    """NDCG@10 of each scored shopper of a split or fold, shape (n_scored,), in user order."""
    train, test = prepared.train, prepared.test
    users = np.flatnonzero((np.diff(test.indptr) > 0) & (np.diff(train.indptr) > 0))
    ids = model.recommend(users, train, n=K, exclude_seen=True)[0]
    return per_user_metrics(ids, test[users], K)["ndcg"]
