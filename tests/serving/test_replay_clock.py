"""A list computed at a past clock T depends only on events before T, and caches never carry a
list from one clock to another (real PostgreSQL and Redis; events stored through ingestion)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from behavior.realtime import recent_events_for, shopper_state
from behavior.services import ingest_events
from recommender.serving.catalog_state import forget_catalog
from recommender.serving.products import bought_together
from recommender.serving.registry import slot_names
from recommender.serving.service import recommend
from recommender.serving.trending import forget_trending
from tests.serving.conftest import NEWEST

pytestmark = pytest.mark.django_db

CUT = NEWEST - timedelta(days=20)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _lists(shoppers, *, now: datetime) -> dict:
    return {
        (str(shopper), slot): [
            (r.product.sku, r.source, round(r.score, 6))
            for r in recommend(shopper=shopper, slot=slot, k=8, now=now).items
        ]
        for shopper in shoppers
        for slot in slot_names()
    }


def _after_cut_events(prefix: str) -> list[dict]:
    """Purchases, views, a search and a trend, all after the cut (some in the future)."""
    events = []
    for n, sku in enumerate(["GAR-1", "GAR-2", "PLA-3", "MUG-4", "MUG-5", "GAR-6"]):
        for shopper in ("s-0", "light"):
            events.append(
                {
                    "event_id": f"{prefix}-{shopper}-{n}",
                    "shopper": shopper,
                    "product": sku,
                    "kind": "purchase",
                    "order_id": f"{prefix}-order-{shopper}",
                    "occurred_at": _iso(CUT + timedelta(hours=1 + n)),
                }
            )
    for n in range(40):  # every shopper suddenly buys one product: it would trend
        events.append(
            {
                "event_id": f"{prefix}-trend-{n}",
                "shopper": f"s-{n}",
                "product": "GAR-9",
                "kind": "purchase",
                "order_id": f"{prefix}-order-{n}",
                "occurred_at": _iso(CUT + timedelta(minutes=n)),
            }
        )
    events.append(
        {
            "event_id": f"{prefix}-search",
            "shopper": "s-0",
            "kind": "search",
            "query": "garden",
            "occurred_at": _iso(timezone.now()),
        }
    )
    return events


def _forget_process_caches() -> None:
    cache.clear()
    forget_trending()
    forget_catalog()


@pytest.fixture
def ingest(django_capture_on_commit_callbacks):
    """Store events as the API does: in PostgreSQL, then (after commit) in the Redis sets."""

    def store(events: list[dict]) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return ingest_events(events=events).stored

    return store


@pytest.fixture
def replay_shop(trained_shop, settings, ingest):
    """The trained shop, a light shopper with two events before the cut, Redis sets built."""
    settings.SHELFWISE_RECENT_EVENTS = 5  # the heavy shopper's set gets trimmed
    before_cut = [
        {
            "event_id": f"light-{n}",
            "shopper": "light",
            "product": sku,
            "kind": "purchase",
            "order_id": "light-order",
            "occurred_at": _iso(CUT - timedelta(days=3)),
        }
        for n, sku in enumerate(["MUG-1", "MUG-2"])
    ]
    assert ingest(before_cut) == 2
    for shopper in ("s-0", "light"):
        recent_events_for(shopper_id=_pk(shopper))  # a live read builds each sorted set
    return trained_shop


def _pk(external_id: str) -> int:
    from behavior.models import Shopper

    return Shopper.objects.get(external_id=external_id).pk


def test_an_event_after_the_clock_never_changes_a_list_computed_at_that_clock(replay_shop, ingest):
    shoppers = ["s-0", "light", "never-seen"]
    at_cut = _lists(shoppers, now=CUT)

    stored = ingest(_after_cut_events("late"))
    _forget_process_caches()

    assert stored > 40
    assert _lists(shoppers, now=CUT) == at_cut
    live = _lists(["s-0"], now=timezone.now())
    assert live[("s-0", "buy_again")] != at_cut[("s-0", "buy_again")]  # the events do count live


def test_a_past_clock_reads_the_sorted_set_when_it_holds_the_whole_history(replay_shop, ingest):
    ingest(_after_cut_events("late"))
    light = _pk("light")

    assert len(shopper_state(shopper_id=light).events) == 5  # the set: all of light's events

    events = shopper_state(shopper_id=light, before=CUT).events
    assert [e.event_id for e in events] == ["light-1", "light-0"]
    heavy = shopper_state(shopper_id=_pk("s-0"), before=CUT).events
    assert heavy and all(e.occurred_at < CUT.timestamp() for e in heavy)
    assert len(heavy) == 5  # trimmed set: the five latest before the cut, from PostgreSQL


def test_a_list_cached_at_one_clock_never_answers_another(replay_shop, ingest, settings):
    settings.SHELFWISE_RESPONSE_CACHE_SECONDS = 60
    ingest(_after_cut_events("late"))
    later = CUT + timedelta(days=1)
    shoppers = ["s-0", "light"]
    _lists(shoppers, now=timezone.now())  # live entries cached
    _lists(shoppers, now=later)  # and the later clock's trending

    at_cut = _lists(shoppers, now=CUT)
    _forget_process_caches()
    fresh_at_cut = _lists(shoppers, now=CUT)
    live_after_replay = _lists(shoppers, now=timezone.now())
    _forget_process_caches()

    assert at_cut == fresh_at_cut
    assert live_after_replay == _lists(shoppers, now=timezone.now())
    assert at_cut != live_after_replay


def test_bought_together_at_a_past_clock_ignores_later_orders(replay_shop, ingest):
    first = [r.product.sku for r in bought_together(sku="GAR-1", k=5, now=CUT).items]

    ingest(_after_cut_events("late"))
    _forget_process_caches()
    again = [r.product.sku for r in bought_together(sku="GAR-1", k=5, now=CUT).items]
    live = [r.product.sku for r in bought_together(sku="GAR-1", k=5, now=timezone.now()).items]

    assert again == first
    assert live != again  # the late shared orders count live
