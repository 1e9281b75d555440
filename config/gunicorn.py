"""Gunicorn settings for the web service (``gunicorn -c config/gunicorn.py config.wsgi``).

Read from the environment so compose, the Dockerfile and the benchmarks run the same server:
``WEB_WORKERS`` (default 2), ``WEB_THREADS`` (default 4), ``WEB_TIMEOUT``, ``WEB_BIND``,
``WEB_ACCESS_LOG`` (``-``: stdout; empty: off).
"""

import os

# One BLAS thread per web process: a request's fold-in is a k×k solve, far too small to split,
# and with two workers on two cores extra BLAS threads only contend with the other worker.
# Set before the workers import numpy (gunicorn reads this file first).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Threads > 1 switch gunicorn to its gthread worker: it keeps client connections alive and
# overlaps one request's waits on PostgreSQL and Redis with another's CPU. bench.serving, two
# workers on two loaded cores: cached responses 107 -> 251 req/s and 8.4 -> 5.8 ms CPU each
# with 4 threads; computed ones the same (114 vs 104 req/s: CPU-bound).
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None


def post_worker_init(worker: object) -> None:
    """Import every view, load the champions and the catalog (``recommender.serving.warm``), then
    move what the worker loaded out of the garbage collector's way; the worker takes no request
    before this returns.

    The URLconf (views, serializers, the schema) and the models are otherwise loaded by the
    first request.
    ``gc.freeze()`` then parks the ~100k objects of Django, DRF and numpy in the permanent
    generation: a full collection no longer walks them, which took a request-serving worker's
    full collections from ~80 ms to ~18 ms (one every ~1,700 requests; a p99 pause otherwise).
    """
    import gc

    from django.urls import get_resolver

    from recommender.serving.warm import warm_up

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and every view module
    warm_up()
    gc.collect()
    gc.freeze()
