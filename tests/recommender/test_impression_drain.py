"""The impressions stream drained into the Impression table: once, whatever fails when."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection

from config.recommendation_ids import new_recommendation_id
from recommender.impressions import STREAM_NAME, Dropped, flush_impressions, record_impressions
from recommender.models import Impression
from recommender.proof import drain
from recommender.proof.drain import GROUP, drain_impressions, pending_impressions

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def shown(rec_id: str, *, placement: str = "for_you", items=(1, 2, 3)) -> dict:
    return {
        "id": rec_id,
        "placement": placement,
        "variant": "",
        "model": "als@v3",
        "items": list(items),
        "shopper": "s-1",
        "product": "",
        "at": AT.isoformat(),
    }


def serve(*entries: dict) -> None:
    for entry in entries:
        record_impressions(product_ids=entry["items"], now=AT, shown=entry)
    flush_impressions()


def test_it_stores_each_served_response_once_and_empties_the_stream(settings):
    settings.SHELFWISE_IMPRESSIONS_FLUSH_SECONDS = 3600
    ids = [new_recommendation_id() for _ in range(5)]
    serve(*(shown(i) for i in ids))
    assert pending_impressions() == 5

    assert drain_impressions(batch_size=2) == 5

    assert sorted(str(pk) for pk in Impression.objects.values_list("pk", flat=True)) == sorted(ids)
    row = Impression.objects.get(pk=ids[0])
    assert (row.placement, row.model_version, row.items, row.shown_at) == (
        "for_you",
        "als@v3",
        [1, 2, 3],
        AT,
    )
    assert pending_impressions() == 0
    assert drain_impressions() == 0


def test_a_drain_killed_after_its_commit_replays_the_batch_without_double_counting(
    monkeypatch,
):
    ids = [new_recommendation_id() for _ in range(3)]
    serve(*(shown(i) for i in ids))
    client = get_redis_connection("default")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("worker killed between commit and XACK")

    with monkeypatch.context() as patched:
        patched.setattr(type(client), "xack", crash)
        with pytest.raises(KeyboardInterrupt):
            drain_impressions()
    assert Impression.objects.count() == 3  # committed, but still pending in the group
    pending = client.xpending(cache.make_key(STREAM_NAME), GROUP)["pending"]
    assert pending == 3

    assert drain_impressions() == 0  # read back, inserted nothing new

    assert Impression.objects.count() == 3
    assert pending_impressions() == 0


def test_a_response_served_twice_under_one_id_is_one_row():
    rec_id = new_recommendation_id()
    serve(shown(rec_id))
    drain_impressions()
    serve(shown(rec_id))

    drain_impressions()

    assert Impression.objects.count() == 1


def test_an_unreadable_entry_is_logged_and_skipped_not_blocking_the_rest(caplog):
    good = new_recommendation_id()
    client = get_redis_connection("default")
    client.xadd(cache.make_key(STREAM_NAME), {"e": "{not json"})
    serve(shown(good))

    drain_impressions()

    assert [str(pk) for pk in Impression.objects.values_list("pk", flat=True)] == [good]
    assert "unreadable entry" in caplog.text
    assert pending_impressions() == 0


def test_with_redis_unreachable_the_impression_is_dropped_and_counted(settings, caplog):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    before = Dropped.responses

    record_impressions(product_ids=[1], now=AT, shown=shown(new_recommendation_id()))
    flush_impressions()

    assert Dropped.responses == before + 1
    assert "1 served responses not logged" in caplog.text
    assert pending_impressions() == 0


def test_without_redis_the_embedded_demo_drains_its_own_process(settings, monkeypatch):
    monkeypatch.setattr(drain, "redis_client", lambda: None)
    monkeypatch.setattr("recommender.impressions.redis_client", lambda: None)
    rec_id = new_recommendation_id()

    record_impressions(product_ids=[1, 2, 3], now=AT, shown=shown(rec_id))
    drain_impressions()

    assert [str(pk) for pk in Impression.objects.values_list("pk", flat=True)] == [rec_id]
    assert uuid.UUID(rec_id).version == 7


def test_the_rules_and_variant_given_to_log_shown_reach_the_impression(settings):
    from recommender.proof.shown import log_shown

    rec_id = new_recommendation_id()
    log_shown(
        recommendation_id=rec_id,
        placement="home",
        model_version=None,
        product_ids=[4, 5, 6],
        shopper="s-1",
        product="",
        now=AT,
        rules={"12": [4], "13": [5, 6]},
        variant="b",
    )

    drain_impressions()

    row = Impression.objects.get(pk=rec_id)
    assert (row.rules, row.variant) == ({"12": [4], "13": [5, 6]}, "b")


def test_with_impression_logging_off_nothing_is_logged(settings):
    from recommender.proof.shown import log_shown

    settings.SHELFWISE_LOG_IMPRESSIONS = False
    log_shown(
        recommendation_id=new_recommendation_id(),
        placement="home",
        model_version=None,
        product_ids=[4],
        shopper="s-1",
        product="",
        now=AT,
    )

    assert drain_impressions() == 0 and not Impression.objects.exists()
