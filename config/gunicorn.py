"""Gunicorn settings for the web service (``gunicorn -c config/gunicorn.py config.wsgi``).

Read from the environment so compose, the Dockerfile and the benchmarks run the same server:
``WEB_WORKERS`` (default 2), ``WEB_THREADS`` (default 1: sync workers), ``WEB_TIMEOUT``.
"""

import os

# One BLAS thread per web process: a request's fold-in is a k×k solve, far too small to split,
# and with two workers on two cores extra BLAS threads only contend with the other worker.
# Set before the workers import numpy (gunicorn reads this file first).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Threads > 1 switch gunicorn to its gthread worker: it overlaps one request's waits on
# PostgreSQL and Redis with another's CPU, at the price of the GIL between them.
threads = int(os.environ.get("WEB_THREADS", "1"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
