"""Product-page benchmark: the compute of ``similar_products`` (or ``bought_together``) per call,
in this process, with the response cache off (every call computed).

Needs a database with champions trained (e.g. the demo shop at ``--scale 30`` after
``manage.py train --inline``)::

    .venv/bin/python -m bench.similar [--products 500] [--warm-up 100] [--kind similar]

Calls ``--warm-up`` products first (loads the models and the catalog snapshot), then times
``--products`` other random active products (seeded), twice: a first visit (their cards not yet
in the snapshot's memo) and a second pass over the same products (a running server's memo).
Prints wall p50/p99 and mean CPU per call, with the load average beside them.

``--dump F`` writes every timed product's list (sku, source, reason, score) to F as JSON;
``--compare F`` reports the products whose list differs from such a file: run it on two
versions of the code to check a change keeps the lists and reasons as they were.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Any

TARGET_MS = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=500, help="products timed")
    parser.add_argument("--warm-up", type=int, default=100, help="untimed calls first")
    parser.add_argument("--kind", choices=("similar", "bought_together"), default="similar")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dump", help="write the timed products' lists to this JSON file")
    parser.add_argument("--compare", help="count lists that differ from this JSON file")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from catalog.models import Product
    from recommender.serving.products import bought_together, similar_products

    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    serve = similar_products if args.kind == "similar" else bought_together
    skus = sorted(Product.objects.filter(is_active=True).values_list("sku", flat=True))
    chosen = random.Random(args.seed).sample(skus, min(len(skus), args.products + args.warm_up))
    warm, timed = chosen[: args.warm_up], chosen[args.warm_up :]
    now = timezone.now()
    print(
        f"{args.kind} k={args.k}: {len(skus):,} active products, {len(warm)} warm-up calls, "
        f"{len(timed)} timed; load average {_load()} on {os.cpu_count()} cores"
    )
    for sku in warm:
        serve(sku=sku, k=args.k, now=now)
    lists: dict[str, list[Any]] = {}
    for label in ("first visit", "second pass"):
        timings = []
        cpu_started = time.process_time()
        for sku in timed:
            started = time.perf_counter()
            result = serve(sku=sku, k=args.k, now=now)
            timings.append((time.perf_counter() - started) * 1000)
            lists[sku] = _listed(result)
        cpu = (time.process_time() - cpu_started) * 1000 / len(timings)
        timings.sort()
        p99 = timings[max(int(len(timings) * 0.99) - 1, 0)]
        print(
            f"{label:>11}: p50 {statistics.median(timings):.2f} ms  p99 {p99:.2f} ms  "
            f"CPU {cpu:.2f} ms/call (target ≤ {TARGET_MS} ms); load {_load()}"
        )
    print(f"items per list: mean {statistics.mean(len(v) for v in lists.values()):.2f}")
    if args.dump:
        with open(args.dump, "w") as handle:
            json.dump(lists, handle, indent=0)
    if args.compare:
        with open(args.compare) as handle:
            before = json.load(handle)
        common = [sku for sku in lists if sku in before]
        differ = [sku for sku in common if before[sku] != lists[sku]]
        print(f"compared with {args.compare}: {len(differ)} of {len(common)} lists differ")
        for sku in differ[:5]:
            print(f"  {sku}: {before[sku]}\n  {' ' * len(sku)}  {lists[sku]}")
        return 1 if differ else 0
    return 0


def _listed(result: Any) -> list[Any]:
    """What a list shows: each product, its source, its reason and its score (6 decimals)."""
    return [
        [item.product.sku, item.source, item.reason.code, item.reason.text, round(item.score, 6)]
        for item in result.items
    ]


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
