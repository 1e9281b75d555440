"""The demo's stage clock: every stage in order, the commit between them, the database's CPU."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from demo import services
from demo.stages import Stages


@pytest.mark.django_db
def test_a_build_times_each_stage_in_order_with_the_commit_and_the_backends_cpu():
    stages = Stages()

    services.build_demo_shop(
        seed=3, now=datetime(2026, 11, 1, 12, tzinfo=UTC), scale=0.05, stages=stages
    )

    names = [s.name for s in stages.done]
    assert names == [
        "draw the plan", "categories", "products", "shoppers", "events (COPY)",
        "availability history", "summaries", "promotions", "commit", "ANALYZE",
    ]  # fmt: skip
    assert all(s.wall >= 0 and s.cpu >= 0 for s in stages.done)
    # PostgreSQL runs on this machine: its backend's CPU is read for every stage.
    assert all(s.db_cpu is not None and s.db_cpu >= 0 for s in stages.done)
    total = stages.total()
    assert total.wall == pytest.approx(sum(s.wall for s in stages.done))
    assert stages.table()[-1].split()[0] == "total" and len(stages.table()) == len(names) + 2
