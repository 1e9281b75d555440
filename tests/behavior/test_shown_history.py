"""The per-shopper shown history in the real Redis: showings written with the impressions,
clicks written with the events, bounded and expiring, and Redis down served without it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django_redis import get_redis_connection

from behavior.services import ingest_events
from behavior.shown_history import (
    ShownQuestions,
    answered_in_python,
    history_name,
    shown_history,
)
from recommender.impressions import flush_impressions
from recommender.proof.drain import drain_impressions
from recommender.proof.shown import log_shown
from tests.behavior.test_realtime import dead_redis_caches
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
REC_ID = "01890a5d-ac96-774b-bcce-b302099a8057"


@pytest.fixture
def products():
    return {sku: ProductFactory(sku=sku) for sku in ("A", "B", "C")}


def show(
    *products, shopper: str = "cust-1", at: datetime = T0, n: int = 0, variant: str = ""
) -> None:
    log_shown(
        recommendation_id=f"01890a5d-ac96-774b-bcce-{n:012d}",
        placement="home",
        model_version=None,
        product_ids=[p.pk for p in products],
        shopper=shopper,
        product="",
        now=at,
        variant=variant,
    )


def event(sku: str, at: datetime, **fields) -> dict:
    return {
        "event_id": f"e-{sku}-{at.timestamp()}-{fields.get('kind', 'view')}",
        "shopper": "cust-1",
        "product": sku,
        "kind": "view",
        "occurred_at": at.isoformat(),
        **fields,
    }


def history(at: datetime = T0 + timedelta(hours=1), hours: float = 24):
    """Asked: what was shown in the last ``hours``, and what 1, 2 or 3 times after its click."""
    flush_impressions()
    asked = ShownQuestions(hours, frozenset((hours, shows) for shows in (1, 2, 3)))
    return shown_history(shopper="cust-1", now=at, questions=asked)


def unclicked_count(found, pk: int, hours: float = 24) -> int:
    """How many times ``pk`` was shown after its latest click, as far as the answers tell."""
    return max((n for n in (1, 2, 3) if pk in found.shown_at_least(n, hours=hours)), default=0)


def key(shopper: str = "cust-1") -> str:
    return f"shelfwise-test:1:{history_name(shopper)}"


def test_each_showing_counts_once_per_response_until_a_view_resets_it(
    products, django_capture_on_commit_callbacks
):
    a, b = products["A"], products["B"]
    show(a, b, n=1)
    show(a, at=T0 + timedelta(minutes=5), n=2)

    before = history()

    assert unclicked_count(before, a.pk) == 2
    assert unclicked_count(before, b.pk) == 1
    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=[event("A", T0 + timedelta(minutes=10))])
    after = history()
    assert unclicked_count(after, a.pk) == 0
    assert unclicked_count(after, b.pk) == 1
    assert after.recently_shown() == {a.pk, b.pk}  # still shown, for "recently"


def test_a_cart_that_names_the_recommendation_resets_and_an_earlier_click_does_not(
    products, django_capture_on_commit_callbacks
):
    a, b = products["A"], products["B"]
    show(a, b, at=T0 + timedelta(minutes=5), n=1)

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(
            events=[
                event("A", T0 + timedelta(minutes=6), kind="add_to_cart", recommendation_id=REC_ID),
                event("B", T0, kind="view"),  # before the showing: it does not undo it
            ]
        )

    found = history()
    assert unclicked_count(found, a.pk) == 0
    assert unclicked_count(found, b.pk) == 1


def test_only_the_window_asked_for_is_read(products):
    show(products["A"], n=1)
    show(products["B"], at=T0 + timedelta(hours=3), n=2)

    found = history(at=T0 + timedelta(hours=4), hours=2)

    assert found.recently_shown() == {products["B"].pk}
    assert found.shown_at_least(1, hours=2) == {products["B"].pk}


def test_a_click_stored_before_its_showing_is_flushed_still_resets_it(
    products, django_capture_on_commit_callbacks
):
    show(products["A"], n=1)  # still in this process's one-second buffer

    with django_capture_on_commit_callbacks(execute=True):
        ingest_events(events=[event("A", T0 + timedelta(seconds=30))])

    assert unclicked_count(history(), products["A"].pk) == 0


@override_settings(SHELFWISE_SHOWN_HISTORY_MAX=3, SHELFWISE_SHOWN_HISTORY_HOURS=5)
def test_the_history_keeps_the_newest_members_and_expires_after_the_longest_window(products):
    for n in range(4):
        show(products["A"], products["B"], at=T0 + timedelta(minutes=n), n=n)
    flush_impressions()

    redis = get_redis_connection("default")

    assert redis.zcard(key()) == 3
    assert 4 * 3600 < redis.ttl(key()) <= 5 * 3600
    assert unclicked_count(history(), products["A"].pk) == 1  # the newest showings


def test_an_anonymous_response_keeps_no_history(products):
    show(products["A"], shopper="")
    flush_impressions()

    asked = ShownQuestions(recent_hours=1)
    assert shown_history(shopper="", now=T0, questions=asked).recently_shown() == set()
    assert not get_redis_connection("default").keys("shelfwise-test:1:shown:*")


def test_an_empty_response_in_the_batch_loses_nothing_else_it_carries(products):
    # An A/B holdout answers a known shopper with an empty list; its empty set of showings
    # once made the batch's script fail, and with it the whole round trip.
    show(shopper="cust-2", n=1, variant="1:holdout")
    show(products["A"], n=2)

    flush_impressions()
    stored = drain_impressions()

    assert unclicked_count(history(), products["A"].pk) == 1
    assert stored == 2  # both responses reached the log
    assert not get_redis_connection("default").keys(key("cust-2"))


def test_with_redis_down_the_history_is_unknown_and_nothing_raises(products):
    with override_settings(CACHES=dead_redis_caches()):
        show(products["A"])
        flush_impressions()

        asked = ShownQuestions(recent_hours=1)
        assert shown_history(shopper="cust-1", now=T0, questions=asked) is None


def test_redis_answers_every_question_as_the_python_reading_does_on_random_histories():
    """The script that counts in Redis against ``answered_in_python`` (the embedded demo's
    reading), on seeded histories whose showings and clicks fall on the windows' edges."""
    redis = get_redis_connection("default")
    rng = random.Random(7)
    now = T0 + timedelta(hours=30)
    until = now.timestamp()
    compared = 0
    for case in range(40):
        shopper = f"random-{case}"
        edges = [until - h * 3600 for h in (1, 2, 24)] + [until]
        members: dict[str, float] = {}
        for n in range(rng.randint(0, 60)):
            pk = rng.randint(1, 6)
            at = rng.choice(edges) if rng.random() < 0.3 else until - rng.uniform(0, 30 * 3600)
            members[f"s{pk}:{n:04x}"] = at
            if rng.random() < 0.15:  # a click, now and then at the very time of a showing
                members[f"c{pk}"] = at if rng.random() < 0.5 else at + rng.uniform(-3600, 3600)
        if members:
            redis.zadd(key(shopper), {member: at for member, at in members.items()})
        asked = ShownQuestions(
            recent_hours=rng.choice([0, 1, 2, 24]),
            rotations=frozenset(
                (rng.choice([1, 2, 24]), rng.randint(1, 4)) for _ in range(rng.randint(0, 3))
            ),
        )
        if not asked:
            continue
        in_redis = shown_history(shopper=shopper, now=now, questions=asked)
        in_python = answered_in_python(members, now=now, questions=asked)
        assert in_redis == in_python, (case, members, asked)
        compared += 1
    assert compared > 30
