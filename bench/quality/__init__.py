"""Offline quality benchmark on the real datasets: Shelfwise's algorithms next to ``implicit``.

Run from the repository root::

    .venv/bin/python -m bench.quality                  # tuned defaults below, every dataset
    .venv/bin/python -m bench.quality --tune           # grid search on a validation split
    .venv/bin/python -m bench.quality --datasets online_retail --splits per_user

For each dataset and split the table gives NDCG@10, Recall@10, MAP@10 and catalogue coverage on
the held-out test interactions (training items excluded, K=10), the fit time, and the median time
of one real-time request (``recommend_from_items`` from the shopper's training items with those
items excluded). Hyper-parameters come from the ``tuned`` tables of ``params.toml``; ``--tune``
re-derives them on a validation split carved from the training part only (same method as the
test split), never from the test, and prints them as TOML to paste there.
"""

from __future__ import annotations

K = 10
THREADS = 2
REALTIME_REQUESTS = 200
SEED = 42
