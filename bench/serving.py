"""Serving benchmark: GET …/recommendations through gunicorn (2 workers) with wrk, and the
compute per request outside HTTP.

Needs a database with Online Retail imported and champions trained, e.g.::

    source bench-env.sh   # DATABASE_URL, REDIS_URL, SHELFWISE_MEDIA_ROOT of that database
    .venv/bin/python manage.py import_online_retail \\
        ../shared/datasets/online_retail/online_retail.csv.gz
    .venv/bin/python manage.py train --inline --algorithm item_knn --algorithm als \\
        --algorithm popularity --algorithm trending
    .venv/bin/python -m bench.serving [--duration 15] [--connections 2 4 8]

Runs, all on 127.0.0.1 and bounded in time:
1. compute: ``recommend`` in this process for distinct shoppers with the response
   cache off (every call computed: shopper query, one Redis round trip, scoring, rules), p50/p99
   wall and CPU per call, after one pass that fills the per-shopper data caches (latest events,
   purchase history) and the card memo, as a running server has them;
2. cold: gunicorn (config/gunicorn.py, 2 workers) with ``SHELFWISE_RESPONSE_CACHE_SECONDS=0``
   (every request computed), wrk picking a random shopper per request, one run per connection
   count (``--connections``, default 2 4 8: a closed loop's latency is set by its concurrency,
   so the target is read as "≥ 300 req/s in a run whose p99 is within 30 ms");
3. warm: the same with the response cache on, 200 shoppers, after one warm-up pass.
``--impressions on off`` runs 2 and 3 with impression logging on, then off (the targets are
read on the first).
Throttling stays on (rate raised so the load generator is not refused): its Redis calls count.

The host is shared, so beside wall-clock figures each run reports CPU seconds: gunicorn
workers, this database's PostgreSQL backends and the Redis server (shared: an upper bound),
per request, and the request rate those CPU costs allow on this machine's cores
(``capacity``). Targets: p99 ≤ 30 ms and ≥ 300 requests/s cold; compute ≤ 3 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.placements import RULED  # its placement with 20 live rules

REPO = Path(__file__).resolve().parent.parent
PORT = 8765
TARGET_P99_MS, TARGET_RPS, TARGET_COMPUTE_MS = 30.0, 300.0, 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[2, 4, 8],
        help="wrk connections, one run each (closed loop: latency grows with them)",
    )
    parser.add_argument("--shoppers", type=int, default=2000, help="distinct shoppers used")
    parser.add_argument("--compute-requests", type=int, default=500)
    parser.add_argument(
        "--seed",
        type=int,
        help="draw the shoppers with this seed (the same ones in two runs: before/after pairs); "
        "default a fresh random draw",
    )
    parser.add_argument("--slot", default="for_you")
    parser.add_argument(
        "--placement",
        action="store_true",
        help="serve bench.placements' placement with 20 live rules of every kind (for you, "
        "k=10) through /api/v1/placements/<name>/recommendations instead of the slot endpoint",
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="gunicorn threads per worker (config default 4)"
    )
    parser.add_argument(
        "--impressions",
        nargs="+",
        choices=("on", "off"),
        default=["on"],
        help="impression logging in the server (SHELFWISE_LOG_IMPRESSIONS); 'on off' runs both",
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    shoppers, token = _setup(args.shoppers, seed=args.seed)
    if not args.placement:
        return _run(args, shoppers, token)
    from bench.placements import _clear_shown_history, _teardown
    from bench.placements import _setup as setup_placements

    setup_placements()
    _clear_shown_history(shoppers)
    try:
        return _run(args, shoppers, token)
    finally:
        _teardown()


def _run(args: argparse.Namespace, shoppers: list[str], token: str) -> int:
    served = f"placement {RULED} (20 live rules)" if args.placement else f"slot={args.slot}"
    print(
        f"{len(shoppers)} shoppers with events; {served} k=10; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n"
    )
    p50, p99, cpu = _compute(shoppers, args, timed=args.compute_requests)
    print(
        f"compute (in process, response cache off): p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
        f"CPU {cpu:.2f} ms/call (target ≤ {TARGET_COMPUTE_MS} ms) over "
        f"{min(len(shoppers), args.compute_requests)} returning shoppers\n"
    )
    print(f"gunicorn 2 workers × {args.threads} threads; wrk 1 thread, {args.duration} s per run")
    results: dict[str, list[tuple[int, WrkRun]]] = {}
    # A placement has no response cache (its rules read the shopper's latest showings).
    caches = (("cold", "0"),) if args.placement else (("cold", "0"), ("warm", "300"))
    runs = [
        (name, cache_seconds, logging)
        for logging in args.impressions
        for name, cache_seconds in caches
    ]
    for name, cache_seconds, logging in runs:
        print(f"impressions {logging}:")
        with _gunicorn(cache_seconds, threads=args.threads, impressions=logging) as server:
            path = (
                f'"/api/v1/placements/{RULED}/recommendations?k=10&shopper=" .. id'
                if args.placement
                else f'"/api/v1/shoppers/" .. id .. "/recommendations?slot={args.slot}&k=10"'
            )
            script = _wrk_script(shoppers[: 200 if name == "warm" else None], token, path)
            _wrk(script, 5, max(args.connections))  # warm-up: models, snapshot, first visits
            for connections in args.connections:
                before, logged_before = _cpu(server.pids()), _impressions_logged()
                run = _wrk(script, args.duration, connections)
                used = _cpu(server.pids(), since=before)
                time.sleep(1.5)  # the workers' once-a-second flush of the last impressions
                logged = _impressions_logged() - logged_before
                if logging == args.impressions[0]:
                    results.setdefault(name, []).append((connections, run))
                print(
                    f"{name:>4}  {connections:>2} conns (load {os.getloadavg()[0]:.1f}): "
                    f"p50 {run.p50:5.1f} ms  p99 {run.p99:5.1f} ms  {run.rps:4.0f} req/s  "
                    f"non-2xx {run.errors}  impressions logged {logged:,}"
                )
                print(f"      CPU per request: {_cpu_line(used, run.requests)}")
    # The target is a service level: 300 requests/s served with p99 within 30 ms. With a closed
    # loop the load generator's connection count sets the latency (Little's law: mean latency =
    # connections / throughput), so the runs sweep it and the best run within the p99 bound is
    # the one that counts; the others are printed above, not hidden.
    within = [run for _c, run in results["cold"] if run.p99 <= TARGET_P99_MS and not run.errors]
    best = max(within, key=lambda run: run.rps, default=None)
    ok = best is not None and best.rps >= TARGET_RPS and cpu <= TARGET_COMPUTE_MS
    print(
        f"\ntargets (cold: ≥ {TARGET_RPS:.0f} req/s with p99 ≤ {TARGET_P99_MS:.0f} ms; compute ≤ "
        f"{TARGET_COMPUTE_MS} ms CPU): best cold run within the p99 bound "
        + (f"{best.rps:.0f} req/s (p99 {best.p99:.1f} ms)" if best else "none")
        + f", compute {cpu:.2f} ms: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


def _setup(n: int, *, seed: int | None = None) -> tuple[list[str], str]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from rest_framework.authtoken.models import Token

    from behavior.models import Shopper

    user, _ = get_user_model().objects.get_or_create(username="bench-serving")
    token, _ = Token.objects.get_or_create(user=user)
    with_events = Shopper.objects.annotate(n=Count("events")).filter(n__gt=0)
    if seed is None:
        return list(with_events.order_by("?").values_list("external_id", flat=True)[:n]), token.key
    every = sorted(with_events.values_list("external_id", flat=True))
    return random.Random(seed).sample(every, min(n, len(every))), token.key


def _impressions_logged() -> int:
    """Entries ever added to the impression stream (Redis counts them past its cap), so a run
    shows that "impressions on" logged one per response and "off" none."""
    from django.core.cache import cache

    from recommender.impressions import STREAM_NAME, redis_client

    client = redis_client()
    key = cache.make_key(STREAM_NAME)
    if client is None or not client.exists(key):
        return 0
    return int(client.xinfo_stream(key)["entries-added"])


def _compute(
    shoppers: list[str], args: argparse.Namespace, *, timed: int
) -> tuple[float, float, float]:
    """Wall p50, p99 and mean CPU milliseconds of recommend (or of the placement), response
    cache off, for the first ``timed`` shoppers, after one call for every shopper.

    That first pass is a shopper's first visit (latest events and purchase history read from
    PostgreSQL into Redis); the HTTP runs then measure returning shoppers, as a shop has them.
    """
    from django.conf import settings
    from django.utils import timezone

    from placements.services import live_placement_recommendations
    from recommender.serving.service import recommend

    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    now = timezone.now()

    def call(external_id: str) -> Any:
        if args.placement:
            return live_placement_recommendations(name=RULED, now=now, shopper=external_id)
        return recommend(shopper=external_id, slot=args.slot, k=10, now=now)

    # Models, catalog, per-shopper data caches, card memo; and how full the answers are.
    lengths = [len(call(external_id).items) for external_id in shoppers]
    print(f"items per answer: mean {statistics.mean(lengths):.2f} of k=10")
    timings = []
    cpu_started = time.process_time()
    for external_id in shoppers[:timed]:
        started = time.perf_counter()
        call(external_id)
        timings.append((time.perf_counter() - started) * 1000)
    cpu = (time.process_time() - cpu_started) * 1000 / len(timings)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1], cpu


class _gunicorn:
    def __init__(self, cache_seconds: str, *, threads: int = 4, impressions: str = "on") -> None:
        self.env = {
            **os.environ,
            "SHELFWISE_LOG_IMPRESSIONS": "true" if impressions == "on" else "false",
            "SHELFWISE_RESPONSE_CACHE_SECONDS": cache_seconds,
            "API_THROTTLE_USER": "10000000/min",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "WEB_BIND": f"127.0.0.1:{PORT}",
            "WEB_WORKERS": "2",
            "WEB_THREADS": str(threads),
            "WEB_ACCESS_LOG": "",
        }

    def __enter__(self) -> _gunicorn:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "config.wsgi:application",
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=self.env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/v1/products", timeout=1)
            except urllib.error.HTTPError:
                break  # any HTTP answer (here 401 without a token) means it listens
            except OSError:
                time.sleep(0.3)
            else:
                break
        return self

    def pids(self) -> list[int]:
        """The master and its workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [self.process.pid, *map(int, children.read_text().split())]

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _cpu(pids: list[int], since: dict[str, dict[int, float]] | None = None) -> dict:
    """CPU seconds by part (gunicorn, postgres backends of this database, redis), or the
    seconds used since an earlier reading. Processes that end in between are not counted."""
    from django.db import connection

    database = connection.settings_dict["NAME"]
    now: dict[str, dict[int, float]] = {"gunicorn": {}, "postgres": {}, "redis": {}}
    for pid in pids:
        now["gunicorn"][pid] = _process_cpu(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if command.startswith("postgres:") and f" {database} " in command:
            now["postgres"][int(entry.name)] = _process_cpu(int(entry.name))
        elif command.startswith("redis-server"):
            now["redis"][int(entry.name)] = _process_cpu(int(entry.name))
    if since is None:
        return now
    return {
        part: sum(cpu - since[part].get(pid, 0.0) for pid, cpu in readings.items())
        for part, readings in now.items()
    }


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, fields 14 and 15 of proc(5), counted after the ")" of the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_line(used: dict[str, float], requests: int) -> str:
    per = {part: seconds * 1000 / max(requests, 1) for part, seconds in used.items()}
    total = per["gunicorn"] + per["postgres"]
    capacity = (os.cpu_count() or 1) * 1000 / (total + per["redis"]) if total else 0.0
    return (
        f"gunicorn {per['gunicorn']:.2f} ms + postgres {per['postgres']:.2f} ms + redis "
        f"(shared, upper bound) {per['redis']:.2f} ms = {total + per['redis']:.2f} ms; on "
        f"{os.cpu_count()} idle cores that is ~{capacity:.0f} req/s"
    )


def _wrk_script(shoppers: list[str], token: str, path: str) -> str:
    """A wrk script asking ``path`` (a Lua expression of ``id``) for a random shopper each."""
    ids = ",".join(f'"{s}"' for s in shoppers)
    lua = f"""
local ids = {{{ids}}}
local headers = {{["Authorization"] = "Token {token}"}}
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", {path}, headers)
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(lua)
    return handle.name


@dataclass
class WrkRun:
    p50: float
    p99: float
    rps: float
    requests: int
    errors: int


def _wrk(script: str, duration: int, connections: int) -> WrkRun:
    out = subprocess.run(
        [
            "wrk",
            "-t1",  # one wrk thread: the second core serves
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
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkRun(
        p50=_ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        p99=_ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        errors=int(errors.group(1)) if errors else 0,
    )


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


if __name__ == "__main__":
    sys.exit(main())
