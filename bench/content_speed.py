"""Fit time and peak memory of ``ContentModel`` on synthetic catalogs.

Run from the repository root::

    .venv/bin/python -m bench.content_speed                 # 5k, 20k and 50k products
    .venv/bin/python -m bench.content_speed --sizes 5k      # one size
    .venv/bin/python -m bench.content_speed --sizes 200k    # a big shop (~1 min, ~1.5 GB)
    .venv/bin/python -m bench.content_speed --module-file /tmp/old_content.py   # before/after

Each size is fitted in its own subprocess, so the peak resident memory (``ru_maxrss``) reported
is that fit's alone (the catalog itself is counted too). CPU seconds are the process's user +
system time over ``fit``: the machine is shared, so they are steadier than wall seconds.

The catalog: each product has a ~12-word title (given twice, as ``recommender.training.content``
does) and a ~30-word description, drawn from a Zipf-distributed 30k-word vocabulary in which
each category also has 300 words of its own (so text follows category); 200 categories and 100
brands, Zipf-sized; log-normal prices around 20 in the category's price level.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

SIZES = {"5k": 5_000, "20k": 20_000, "50k": 50_000, "100k": 100_000, "200k": 200_000}
DEFAULT_SIZES = ["5k", "20k", "50k"]
CATEGORIES = 200
BRANDS = 100
VOCABULARY = 30_000
CATEGORY_WORDS = 300
TITLE_WORDS = 12
DESCRIPTION_WORDS = 30
NEIGHBOURS = 50
SEED = 7

TARGET_CPU_S = 10.0  # at 50k products
TARGET_PEAK_GB = 2.0


def _zipf(n: int, exponent: float) -> np.ndarray:
    p = (np.arange(n) + 1.0) ** -exponent
    return p / p.sum()


def catalog(n_items: int, seed: int = SEED) -> dict[str, Any]:
    """``ContentModel.fit`` keyword arguments for a synthetic catalog of ``n_items``."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{k}" for k in range(VOCABULARY)])
    general = _zipf(VOCABULARY, 1.0)
    topical = _zipf(CATEGORY_WORDS, 0.8)
    category = rng.choice(CATEGORIES, size=n_items, p=_zipf(CATEGORIES, 0.6))
    brand = rng.choice(BRANDS, size=n_items, p=_zipf(BRANDS, 0.8))
    # The category's own words: a random slice of the vocabulary per category.
    own = rng.integers(0, VOCABULARY, size=(CATEGORIES, CATEGORY_WORDS))

    def draw(count: np.ndarray) -> list[str]:
        total = int(count.sum())
        owner = np.repeat(category, count)
        general_ids = rng.choice(VOCABULARY, size=total, p=general)
        topical_ids = own[owner, rng.choice(CATEGORY_WORDS, size=total, p=topical)]
        ids = np.where(rng.random(total) < 0.5, topical_ids, general_ids)
        tokens = words[ids]
        cuts = np.cumsum(count)[:-1]
        return [" ".join(part) for part in np.split(tokens, cuts)]

    titles = draw(rng.poisson(TITLE_WORDS, size=n_items).clip(3))
    descriptions = draw(rng.poisson(DESCRIPTION_WORDS, size=n_items).clip(5))
    level = rng.normal(np.log(20.0), 1.0, size=CATEGORIES)
    prices = np.exp(level[category] + rng.normal(0, 0.5, size=n_items)).round(2)
    prices[rng.random(n_items) < 0.02] = np.nan
    return {
        "item_texts": [f"{t} {t} {d}" for t, d in zip(titles, descriptions, strict=True)],
        "item_categories": [f"category {c}" for c in category],
        "item_brands": [f"brand {b}" for b in brand],
        "item_prices": prices,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_gb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _model_class(module_file: str | None) -> Any:
    if module_file is None:
        from recommender.core.content import ContentModel

        return ContentModel
    # Another implementation of the same class (e.g. an older revision, for a before/after).
    spec = importlib.util.spec_from_file_location("content_under_test", module_file)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ContentModel


def worker(label: str, module_file: str | None) -> dict[str, Any]:
    """Generate one catalog, fit on it, report seconds and peak RSS."""
    from threadpoolctl import threadpool_limits

    n_items = SIZES[label]
    features = catalog(n_items)
    data_gb = _peak_gb()
    model = _model_class(module_file)(n_neighbors=NEIGHBOURS)
    user_items = sp.csr_matrix((1, n_items), dtype=np.float32)
    with threadpool_limits(2):
        start, start_cpu = time.perf_counter(), _cpu_seconds()
        model.fit(user_items, **features)
        wall = time.perf_counter() - start
        cpu = _cpu_seconds() - start_cpu
    return {
        "size": label,
        "fit_s": wall,
        "fit_cpu_s": cpu,
        "data_peak_gb": data_gb,
        "peak_gb": _peak_gb(),
        "neighbours": int(model.similarity.nnz),
        "vocabulary": int(model.vocabulary.size),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, choices=list(SIZES))
    parser.add_argument("--module-file", help="fit this file's ContentModel instead")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per size")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.module_file)))
        return
    results = []
    for label in args.sizes:
        command = [sys.executable, "-m", "bench.content_speed", "--worker", label]
        if args.module_file:
            command += ["--module-file", args.module_file]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, timeout=args.timeout
            )
        except subprocess.TimeoutExpired:
            result = {"size": label, "error": f"no result within {args.timeout:.0f} s"}
        else:
            if done.returncode != 0:
                tail = done.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
                result = {"size": label, "error": tail[0]}
            else:
                result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        results.append(result)
    print(f"\n{'size':<6}{'fit s':>8}{'cpu s':>8}{'peakGB':>8}  targets")
    for r in results:
        if "error" in r:
            print(f"{r['size']:<6}  failed: {r['error']}")
            continue
        notes = ""
        if r["size"] == "50k":
            ok = r["fit_cpu_s"] <= TARGET_CPU_S and r["peak_gb"] <= TARGET_PEAK_GB
            mark = "ok" if ok else "MISSED"
            notes = f"cpu ≤ {TARGET_CPU_S} s, peak ≤ {TARGET_PEAK_GB} GB: {mark}"
        figures = f"{r['fit_s']:>8.2f}{r['fit_cpu_s']:>8.2f}{r['peak_gb']:>8.2f}"
        print(f"{r['size']:<6}{figures}  {notes}")
    print(
        f"\n({NEIGHBOURS} neighbours; {CATEGORIES} categories, {BRANDS} brands, prices; "
        f"~{TITLE_WORDS}-word titles twice + ~{DESCRIPTION_WORDS}-word descriptions; "
        "cpu = process CPU seconds of fit, 2 BLAS threads at most)"
    )


if __name__ == "__main__":
    main()
