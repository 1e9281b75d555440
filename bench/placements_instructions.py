"""Instructions per request of bench.placements' four calls, counted by callgrind.

CPU time on a shared 2-core machine moves with the load; an instruction count does not. Run
under valgrind with instrumentation off until the timed part::

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m bench.placements_instructions [--shoppers 40]

Same setup as bench.placements (its placements and 20 rules, a shown history from three
servings per shopper, a warm-up pass), then each call in turn over the shoppers with
instrumentation switched on around it (``callgrind_control``): the instructions of that loop
divided by the shoppers, printed per call, and the placement's overhead over the slot.
Without valgrind it prints nothing measured (a dry run of the same code).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from bench.placements import _setup, _shoppers, _teardown
    from placements.services import placement_recommendations, serve_placement
    from recommender.impressions import flush_impressions
    from recommender.serving.service import recommend

    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 0
    shoppers = sorted(_shoppers(args.shoppers))
    plain, ruled = _setup()
    calls = {
        "slot": lambda s: recommend(shopper=s, slot="for_you", k=10, now=timezone.now()),
        "slot, k=40 (the pool)": lambda s: recommend(
            shopper=s, slot="for_you", k=40, now=timezone.now()
        ),
        "placement, no rules": lambda s: placement_recommendations(
            placement=plain, now=timezone.now(), shopper=s
        ),
        "placement, 20 rules": lambda s: placement_recommendations(
            placement=ruled, now=timezone.now(), shopper=s
        ),
    }
    counts: dict[str, float] = {}
    try:
        for shopper in shoppers:
            for _ in range(3):
                now = timezone.now()
                serve_placement(
                    placement_recommendations(placement=ruled, now=now, shopper=shopper), now=now
                )
        flush_impressions()
        for shopper in shoppers:  # warm-up
            for call in calls.values():
                call(shopper)
        for name, call in calls.items():
            _callgrind("--zero")
            _callgrind("--instr=on")
            for shopper in shoppers:
                call(shopper)
            total = _callgrind("-e")
            _callgrind("--instr=off")
            counts[name] = total / len(shoppers) if total else float("nan")
    finally:
        _teardown()
    print(f"{len(shoppers)} shoppers, instructions per request (callgrind)")
    for name, count in counts.items():
        print(f"{name:<24}{count / 1e6:>10.3f} M  {(count - counts['slot']) / 1e6:>+8.3f} M")
    return 0


def _callgrind(option: str) -> float:
    """Send ``option`` to the callgrind running this process; for ``-e``, the
    instructions counted since ``--zero`` (all threads)."""
    if "vgpreload" not in os.environ.get("LD_PRELOAD", ""):
        return 0.0
    done = subprocess.run(
        ["callgrind_control", option, str(os.getpid())], capture_output=True, text=True
    )
    threads = re.findall(r"Th \d+\s+([\d,]+)", done.stdout)
    return float(sum(int(count.replace(",", "")) for count in threads))


if __name__ == "__main__":
    raise SystemExit(main())
