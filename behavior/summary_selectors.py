"""Exact event counts read from the daily summaries (``behavior.summaries``).

Each answer is the summaries' whole days, plus two reads of the events table that stay small
whatever the history: the events past the summaries' watermark (a primary-key range: what
arrived since the last refresh, minutes of traffic) and the partial days at either end of the
asked range (at most two days, by the time index). So today's partial day is counted from the
events themselves and a figure is exact the moment an event is stored, not at the next refresh.
With no refresh yet the watermark is 0 and every count comes from the events table.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from behavior.models import Event, EventSummaryState, KindDayCount, ProductDayCount
from behavior.summaries import day_bounds


def summarised_through() -> int:
    """The newest event id the summaries hold (0 before the first refresh)."""
    state = EventSummaryState.objects.filter(pk=1).values_list("summarised_through", flat=True)
    return state.first() or 0


def kind_counts_by_day(*, start: datetime, end: datetime) -> Counter[tuple[date, str]]:
    """Events per (UTC day, kind) that occurred in [``start``, ``end``)."""
    through = summarised_through()
    first, last = _whole_days(start, end)
    counts: Counter[tuple[date, str]] = Counter()
    if first >= last:
        _add_by_day(counts, Event.objects.between(start=start, end=end))
        return counts
    whole_start, whole_end = day_bounds(first)[0], day_bounds(last)[0]
    summarised = (
        KindDayCount.objects.filter(day__gte=first, day__lt=last)
        .values_list("day", "kind")
        .annotate(n=Sum("events"))
        .order_by()
    )
    for day, kind, n in summarised:
        counts[day, kind] += n
    newer = Event.objects.filter(id__gt=through).between(start=whole_start, end=whole_end)
    _add_by_day(counts, newer)
    _add_by_day(counts, Event.objects.between(start=start, end=whole_start))
    _add_by_day(counts, Event.objects.between(start=whole_end, end=end))
    return counts


def events_in(*, start: datetime, end: datetime) -> int:
    """How many events occurred in [``start``, ``end``)."""
    return sum(kind_counts_by_day(start=start, end=end).values())


def product_kind_counts(*, product_id: int, since: datetime) -> dict[str, dict[str, int]]:
    """Kind → {"total": all-time events, "recent": events since ``since``} for one product."""
    through = summarised_through()
    first = _whole_days(since, since)[0]
    first_start = day_bounds(first)[0]
    found: dict[str, dict[str, int]] = {}

    def add(kind: str, total: int, recent: int) -> None:
        entry = found.setdefault(kind, {"total": 0, "recent": 0})
        entry["total"] += total
        entry["recent"] += recent

    summarised = (
        ProductDayCount.objects.filter(product_id=product_id)
        .values_list("kind")
        .annotate(total=Sum("events"), recent=Sum("events", filter=Q(day__gte=first)))
        .order_by()
    )
    newer = (
        Event.objects.filter(product_id=product_id, id__gt=through)
        .values_list("kind")
        .annotate(total=Count("id"), recent=Count("id", filter=Q(occurred_at__gte=first_start)))
        .order_by()
    )
    for kind, total, recent in [*summarised, *newer]:
        add(kind, total, recent or 0)
    # The part of the first day after ``since``, whichever side of the watermark: only recent.
    edge = (
        Event.objects.filter(product_id=product_id)
        .between(start=since, end=first_start)
        .values_list("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    for kind, n in edge:
        add(kind, 0, n)
    return {kind: entry for kind, entry in found.items() if entry["total"]}


def _whole_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The first whole UTC day at or after ``start`` and the day ``end`` falls in: the whole
    days of [start, end) are first <= day < last."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    midnight = datetime.combine(start.date(), time.min, tzinfo=UTC)
    first = start.date() if start == midnight else start.date() + timedelta(days=1)
    return first, end.date()


def _add_by_day(counts: Counter, events: QuerySet[Event]) -> None:
    rows = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values_list("day", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    for day, kind, n in rows:
        counts[day, kind] += n
