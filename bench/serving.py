"""Serving benchmark: GET …/recommendations through gunicorn (2 workers) with wrk, and the
compute per request outside HTTP.

Needs a database with Online Retail imported and champions trained, e.g.::

    source bench-env.sh   # DATABASE_URL, REDIS_URL, SHELFWISE_MEDIA_ROOT of that database
    .venv/bin/python manage.py import_online_retail \\
        ../shared/datasets/online_retail/online_retail.csv.gz
    .venv/bin/python manage.py train --inline --algorithm item_knn --algorithm als \\
        --algorithm popularity --algorithm trending
    .venv/bin/python -m bench.serving [--duration 15] [--connections 8]

Runs, all on 127.0.0.1 and bounded in time:
1. compute: ``recommendations_for`` in this process for distinct shoppers (every call a cache
   miss: recent events from Redis/PostgreSQL, scoring, rules, one product query), p50/p99;
2. cold: gunicorn started with ``SHELFWISE_RESPONSE_CACHE_SECONDS=0`` (every request computed),
   wrk picking a random shopper per request;
3. warm: gunicorn with the response cache on, the same shoppers, after one warm-up pass.
Throttling stays on (rate raised so the load generator is not refused): its Redis call counts.
Targets: p99 ≤ 30 ms and ≥ 300 requests/s cold; compute ≤ 3 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PORT = 8765
TARGET_P99_MS, TARGET_RPS, TARGET_COMPUTE_MS = 30.0, 300.0, 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--shoppers", type=int, default=2000, help="distinct shoppers used")
    parser.add_argument("--compute-requests", type=int, default=500)
    parser.add_argument("--slot", default="for_you")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    shoppers, token = _setup(args.shoppers)
    print(f"{len(shoppers)} shoppers with events; slot={args.slot} k=10\n")
    compute = _compute(shoppers[: args.compute_requests], args.slot)
    print(
        f"compute (in process, cache miss): p50 {compute[0]:.2f} ms  p99 {compute[1]:.2f} ms  "
        f"(target ≤ {TARGET_COMPUTE_MS} ms) over {min(len(shoppers), args.compute_requests)}"
    )
    results = {}
    for name, cache_seconds in (("cold", "0"), ("warm", "300")):
        with _gunicorn(cache_seconds):
            script = _wrk_script(shoppers[: 200 if name == "warm" else None], token, args.slot)
            if name == "warm":
                _wrk(script, 5, args.connections)  # fill the cache
            results[name] = _wrk(script, args.duration, args.connections)
        p50, p99, rps, errors = results[name]
        print(
            f"{name:>4} (gunicorn 2 workers, wrk {args.connections} conns, {args.duration}s): "
            f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  {rps:.0f} req/s  non-2xx {errors}"
        )
    p50, p99, rps, _ = results["cold"]
    ok = p99 <= TARGET_P99_MS and rps >= TARGET_RPS and compute[0] <= TARGET_COMPUTE_MS
    print(
        f"\ntargets (cold p99 ≤ {TARGET_P99_MS} ms, ≥ {TARGET_RPS} req/s, compute p50 ≤ "
        f"{TARGET_COMPUTE_MS} ms): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


def _setup(n: int) -> tuple[list[str], str]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from rest_framework.authtoken.models import Token

    from behavior.models import Shopper

    user, _ = get_user_model().objects.get_or_create(username="bench-serving")
    token, _ = Token.objects.get_or_create(user=user)
    shoppers = list(
        Shopper.objects.annotate(n=Count("events"))
        .filter(n__gt=0)
        .order_by("?")
        .values_list("external_id", flat=True)[:n]
    )
    return shoppers, token.key


def _compute(shoppers: list[str], slot: str) -> tuple[float, float]:
    from django.core.cache import cache
    from django.utils import timezone

    from recommender.serving.selectors import recommendations_for

    cache.delete_pattern("*serving:response:*") if hasattr(cache, "delete_pattern") else None
    now = timezone.now()
    recommendations_for(shopper=shoppers[0], slot=slot, k=10, now=now)  # load models, catalog
    timings = []
    for external_id in shoppers[1:]:
        started = time.perf_counter()
        recommendations_for(shopper=external_id, slot=slot, k=10, now=now)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


class _gunicorn:
    def __init__(self, cache_seconds: str) -> None:
        self.env = {
            **os.environ,
            "SHELFWISE_RESPONSE_CACHE_SECONDS": cache_seconds,
            "API_THROTTLE_USER": "10000000/min",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
        }

    def __enter__(self) -> _gunicorn:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{PORT}",
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/v1/", timeout=1)
            except urllib.error.HTTPError:
                break  # any HTTP answer means it listens
            except OSError:
                time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _wrk_script(shoppers: list[str], token: str, slot: str) -> str:
    ids = ",".join(f'"{s}"' for s in shoppers)
    lua = f"""
local ids = {{{ids}}}
local headers = {{["Authorization"] = "Token {token}"}}
local query = "/recommendations?slot={slot}&k=10"
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/shoppers/" .. id .. query, headers)
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(lua)
    return handle.name


def _wrk(script: str, duration: int, connections: int) -> tuple[float, float, float, int]:
    # Warm each worker's models and catalog first, so the run measures steady state.
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            script,
            f"http://127.0.0.1:{PORT}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return p50, p99, rps, int(errors.group(1)) if errors else 0


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


if __name__ == "__main__":
    sys.exit(main())
