"""Events API throughput: POST /api/v1/events with batches of 500 through gunicorn (2 workers).

Needs a database with products (e.g. Online Retail imported; see bench/serving.py)::

    .venv/bin/python -m bench.events_api [--batches 60] [--clients 2]

A bounded loop: ``--batches`` batches of 500 new events (unique event ids, existing skus,
shoppers drawn from a pool that includes new ones) sent by ``--clients`` threads over HTTP on
127.0.0.1, each batch answered with per-event statuses. Reports events/s (stored events over
wall time), batch latency p50/p99, and the CPU seconds of gunicorn, this database's PostgreSQL
backends and Redis per batch (the host is shared: CPU per batch says what the code costs, the
wall clock also what the neighbours take). The events and shoppers it made are deleted at the
end, so it can run against the serving benchmark's database. Target: ≥ 10,000 events/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.serving import PORT, _cpu, _gunicorn

BATCH = 500
TARGET_EVENTS_PER_SECOND = 10_000
KINDS = ("view", "view", "view", "add_to_cart", "purchase")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from accounts.roles import BACKEND, create_api_client
    from catalog.models import Product

    # A shop back-end's client, as a shop's would be: writing events needs its role.
    token = create_api_client(name="bench-events-client", role=BACKEND, rotate=True).token
    skus = list(Product.objects.values_list("sku", flat=True)[:5000])
    run = uuid.uuid4().hex[:8]
    rng = random.Random(7)
    bodies = [
        json.dumps({"events": [_event(run, b, i, skus, rng) for i in range(BATCH)]})
        for b in range(args.batches)
    ]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    try:
        with _gunicorn("300") as server:
            _post(bodies[0], token)  # warm both workers' connections before timing
            before = _cpu(server.pids())
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(lambda body: _post(body, token), bodies[1:]))
            elapsed = time.perf_counter() - started
            used = _cpu(server.pids(), since=before)
    finally:
        _clean_up(run)
    stored = sum(r[0] for r in results)
    latencies = sorted(r[1] for r in results)
    rate = stored / elapsed
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"{stored:,} events stored in {elapsed:.2f} s over HTTP (gunicorn 2 workers × 4 threads, "
        f"{args.clients} clients, batches of {BATCH}): {rate:,.0f} events/s; batch latency "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms; load {os.getloadavg()[0]:.1f}"
    )
    per = {part: seconds * 1000 / len(results) for part, seconds in used.items()}
    total = sum(per.values())
    print(
        f"CPU per batch: gunicorn {per['gunicorn']:.0f} ms + postgres {per['postgres']:.0f} ms"
        f" + redis (shared, upper bound) {per['redis']:.0f} ms = {total:.0f} ms; on "
        f"{os.cpu_count()} idle cores that is ~{(os.cpu_count() or 1) * BATCH * 1000 / total:,.0f}"
        f" events/s"
    )
    print(
        f"target ≥ {TARGET_EVENTS_PER_SECOND:,} events/s: "
        f"{'met' if rate >= TARGET_EVENTS_PER_SECOND else 'NOT met'}"
    )
    return 0 if rate >= TARGET_EVENTS_PER_SECOND else 1


def _clean_up(run: str) -> None:
    from behavior.models import Event, Shopper

    Event.objects.filter(event_id__startswith=f"bench-{run}-").delete()
    Shopper.objects.filter(external_id__startswith="bench-shopper-", events=None).delete()


def _event(run: str, batch: int, index: int, skus: list[str], rng: random.Random) -> dict:
    return {
        "event_id": f"bench-{run}-{batch}-{index}",
        "shopper": f"bench-shopper-{rng.randrange(3000)}",
        "product": rng.choice(skus),
        "kind": rng.choice(KINDS),
        "session_id": f"bench-session-{batch}-{index // 20}",
        "occurred_at": "2024-05-01T12:00:00+00:00",
    }


def _post(body: str, token: str) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/events",
        body=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    payload = json.loads(response.read())
    latency = (time.perf_counter() - started) * 1000
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {payload}")
    return payload["stored"], latency


if __name__ == "__main__":
    sys.exit(main())
