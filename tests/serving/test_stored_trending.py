"""Live requests rank trending from the lists the event-summaries task stored; a past clock, or a
refresh too old to trust, counts from the events as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from behavior.kinds import event_weights
from behavior.models import TrendingList
from behavior.tasks import refresh_event_summaries_task
from behavior.trending_lists import refresh_trending_lists
from behavior.volume_selectors import REFRESHED_KEY
from catalog.models import Product
from recommender.serving.catalog_state import current_catalog
from recommender.serving.trending import STORED_MAX_AGE, forget_trending, trending_rows
from tests.serving.conftest import NEWEST

pytestmark = pytest.mark.django_db


def _top(country: str, *, before=None) -> int:
    # The lists serving cached, not the refresh's own mark.
    cache.delete_pattern("serving:trending:*")
    forget_trending()
    catalog = current_catalog()
    rows, _scores = trending_rows(catalog=catalog, country=country, before=before)
    return int(catalog.pks[rows[0]])


@pytest.fixture
def doctored(trained_shop, settings) -> int:
    """The stored German list with a product that no count would put first."""
    refresh_event_summaries_task()
    counted_first = _top("DE", before=NEWEST + timedelta(days=1))
    planted = Product.objects.exclude(pk=counted_first).order_by("-pk").first().pk
    TrendingList.objects.filter(country="DE", segment="").update(ranked=[[planted, 999.0]])
    return planted


def test_a_live_request_reads_the_stored_list(doctored):
    assert _top("DE") == doctored


def test_a_past_clock_counts_from_the_events(doctored):
    assert _top("DE", before=NEWEST + timedelta(days=1)) != doctored


def test_without_a_recent_refresh_a_live_request_counts_from_the_events(doctored):
    TrendingList.objects.update(computed_at=timezone.now() - STORED_MAX_AGE - timedelta(minutes=1))

    assert _top("DE") != doctored


def test_the_stored_lists_rank_as_the_live_count(trained_shop, settings):
    live = {c: _top(c) for c in ("", "DE", "FR")}

    refresh_trending_lists(
        now=timezone.now(), days=settings.SHELFWISE_TRENDING_DAYS, kind_weights=event_weights()
    )

    assert {c: _top(c) for c in live} == live


def test_without_a_refresh_a_live_request_makes_no_query_for_stored_lists(
    trained_shop, django_assert_num_queries
):
    cache.delete(REFRESHED_KEY)
    cache.delete_pattern("serving:trending:*")
    forget_trending()
    catalog = current_catalog()

    with django_assert_num_queries(2):  # the newest event, and the count itself
        trending_rows(catalog=catalog, country="DE")
