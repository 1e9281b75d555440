"""EASE at the catalog sizes that crashed a training run (issue 14), on a synthetic matrix.

Scale 10 of the demo (20,000 products) died with SIGSEGV in EASE's Cholesky: OpenBLAS's threaded
SYRK inside potrf overruns its work buffer past about 15,000 items with 2 threads (see
``recommender/core/ease.py``). Each size is fitted in its own process, so a crash is reported by
its signal instead of ending the bench::

    .venv/bin/python -m bench.ease_large                          # 16,000 and 19,500 items
    .venv/bin/python -m bench.ease_large --items 16000 --lapack-max 100000   # the old path

Printed per size: the outcome, wall seconds and the fitting process's peak RSS. Too slow and too
large for the test suite (a 19,500² float64 Gram matrix is 3 GB; minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import resource
import signal
import subprocess
import sys
import time

SHOPPERS = 50_000
EVENTS_PER_SHOPPER = 40


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, action="append", metavar="N")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2).")
    parser.add_argument(
        "--lapack-max", type=int, default=None, help="Override ease.LAPACK_MAX_ITEMS."
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.items or [16_000, 19_500]
    if args.one:
        return _fit_one(sizes[0], threads=args.threads, lapack_max=args.lapack_max)
    failures = 0
    for n in sizes:
        command = [sys.executable, "-m", "bench.ease_large", "--one", "--items", str(n)]
        command += ["--threads", str(args.threads)]
        if args.lapack_max is not None:
            command += ["--lapack-max", str(args.lapack_max)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode < 0:
            failures += 1
            name = signal.Signals(-done.returncode).name
            print(f"{n:>7,} items: killed by {name} after {wall:.0f}s")
        elif done.returncode:
            failures += 1
            print(f"{n:>7,} items: exit {done.returncode}: {done.stderr.strip()[-500:]}")
        else:
            print(f"{n:>7,} items: {done.stdout.strip()}")
    return 1 if failures else 0


def _fit_one(n_items: int, *, threads: int, lapack_max: int | None) -> int:
    import numpy as np
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from recommender.core import ease

    if lapack_max is not None:
        ease.LAPACK_MAX_ITEMS = lapack_max
    rng = np.random.default_rng(0)
    # Power-law popularity like the demo generator's: a few products take most events.
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    n_events = SHOPPERS * EVENTS_PER_SHOPPER
    rows = rng.integers(0, SHOPPERS, n_events)
    columns = rng.choice(n_items, n_events, p=popularity / popularity.sum())
    X = sp.csr_matrix(
        (np.ones(n_events, dtype=np.float32), (rows, columns)), shape=(SHOPPERS, n_items)
    )
    X.data[:] = 1.0
    started = time.perf_counter()
    with threadpool_limits(threads):
        # The whole Gram matrix, as before dense_items (bench.large_catalog measures the head).
        model = ease.EASE(regularization=500.0, max_items=n_items, dense_items=n_items).fit(X)
    seconds = time.perf_counter() - started
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    finite = bool(np.isfinite(model.item_weights).all())
    print(
        f"fitted in {seconds:.0f}s with {threads} BLAS threads, peak RSS {peak_gb:.1f} GB, "
        f"weights finite: {finite} (LAPACK_MAX_ITEMS {ease.LAPACK_MAX_ITEMS:,})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
