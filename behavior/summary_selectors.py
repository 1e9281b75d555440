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


def _watermark() -> int:
    # Read first, then written into the queries as a value: as a subquery the planner cannot
    # see that "id > it" is a short primary-key range, and scanned the whole days by time.
    through = EventSummaryState.objects.filter(pk=1).values_list("summarised_through", flat=True)
    return through.first() or 0


def kind_counts_by_day(*, start: datetime, end: datetime) -> Counter[tuple[date, str]]:
    """Events per (UTC day, kind) that occurred in [``start``, ``end``)."""
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
    unsummarised = (
        Q(id__gt=_watermark(), occurred_at__gte=whole_start, occurred_at__lt=whole_end)
        | Q(occurred_at__gte=start, occurred_at__lt=whole_start)
        | Q(occurred_at__gte=whole_end, occurred_at__lt=end)
    )
    _add_by_day(counts, Event.objects.filter(unsummarised))
    return counts


def events_in(*, start: datetime, end: datetime) -> int:
    """How many events occurred in [``start``, ``end``)."""
    return sum(kind_counts_by_day(start=start, end=end).values())


def product_kind_counts(*, product_id: int, since: datetime) -> dict[str, dict[str, int]]:
    """Kind → {"total": all-time events, "recent": events since ``since``} for one product."""
    first = _whole_days(since, since)[0]
    first_start = day_bounds(first)[0]
    summarised = (
        ProductDayCount.objects.filter(product_id=product_id)
        .values_list("kind")
        .annotate(total=Sum("events"), recent=Sum("events", filter=Q(day__gte=first)))
        .order_by()
    )
    newer = Q(id__gt=_watermark())
    # The part of the first day after ``since``, whichever side of the watermark: only recent.
    edge = Q(occurred_at__gte=since, occurred_at__lt=first_start)
    unsummarised = (
        Event.objects.filter(newer | edge, product_id=product_id)
        .values_list("kind")
        .annotate(
            total=Count("id", filter=newer),
            recent=Count("id", filter=(newer & Q(occurred_at__gte=first_start)) | edge),
        )
        .order_by()
    )
    found: dict[str, dict[str, int]] = {}
    for kind, total, recent in [*summarised, *unsummarised]:
        entry = found.setdefault(kind, {"total": 0, "recent": 0})
        entry["total"] += total
        entry["recent"] += recent or 0
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
