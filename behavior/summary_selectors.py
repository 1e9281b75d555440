"""Exact event counts read from the daily summaries (``behavior.summaries``).

Each answer is two queries: the summaries' rows together with their watermark (one statement,
so one snapshot), then one read of the events table that stays small whatever the history:
the events past the watermark (a primary-key range: what arrived since the last refresh,
minutes of traffic), and the summarised events of the range's first and last day that fall
outside the range (by the time index; none after a range ending now, part of one day before a
range starting mid-day), which are subtracted. So today's partial day is exact the moment an
event is stored, not at the next refresh. With no refresh yet the watermark is 0 and every
count comes from the events table.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from django.db.models import CharField, Count, DateField, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate

from behavior.models import Event, EventSummaryState, KindDayCount, ProductDayCount
from behavior.summaries import day_bounds


def _with_watermark(summarised: QuerySet, *, marker: list) -> tuple[list[tuple], int]:
    """The rows of ``summarised`` and the watermark they hold the events up to, read together.

    One statement (the state row appended to the summaries' rows, told apart by ``marker``: its
    values where a summary row's are never NULL), so both come from one snapshot: read apart, a
    refresh committing in between would count its events twice. The watermark is then written
    into the tail's query as a value: as a subquery the planner cannot see that "id > it" is a
    short primary-key range, and scanned whole days by time instead."""
    state = EventSummaryState.objects.filter(pk=1).values_list(*marker, "summarised_through")
    rows, watermark = [], 0
    for row in summarised.union(state, all=True):
        if row[0] is None:
            watermark = row[-1]
        else:
            rows.append(row)
    return rows, watermark


def kind_counts_by_day(*, start: datetime, end: datetime) -> Counter[tuple[date, str]]:
    """Events per (UTC day, kind) that occurred in [``start``, ``end``)."""
    counts: Counter[tuple[date, str]] = Counter()
    if start >= end:
        return counts
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    first_start, last_end = day_bounds(first)[0], day_bounds(last)[1]
    # Every day the range touches is read whole from the summaries; the summarised events of
    # its first and last day outside the range are then subtracted. For a range ending now the
    # second part is empty (no event has occurred yet), so today's partial day costs nothing.
    summarised = (
        KindDayCount.objects.filter(day__gte=first, day__lte=last)
        .values_list("day", "kind")
        .annotate(n=Sum("events"))
        .order_by()
    )
    rows, watermark = _with_watermark(summarised, marker=[Value(None, DateField()), Value("")])
    for day, kind, n in rows:
        counts[day, kind] += n
    newer = Q(id__gt=watermark)
    outside = Q(occurred_at__gte=first_start, occurred_at__lt=start) | Q(
        occurred_at__gte=end, occurred_at__lt=last_end
    )
    corrections = (
        Event.objects.filter(
            (newer & Q(occurred_at__gte=start, occurred_at__lt=end)) | (~newer & outside)
        )
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values_list("day", "kind")
        .annotate(n=Count("id", filter=newer) - Count("id", filter=~newer))
        .order_by()
    )
    for day, kind, n in corrections:
        counts[day, kind] += n
    return +counts  # without the (day, kind) pairs that came to 0


def events_in(*, start: datetime, end: datetime) -> int:
    """How many events occurred in [``start``, ``end``)."""
    return sum(kind_counts_by_day(start=start, end=end).values())


def product_kind_counts(*, product_id: int, since: datetime) -> dict[str, dict[str, int]]:
    """Kind → {"total": all-time events, "recent": events since ``since``} for one product."""
    since_day, since_day_start = (
        since.astimezone(UTC).date(),
        day_bounds(since.astimezone(UTC).date())[0],
    )
    # The first whole day at or after ``since``: its summary rows are all recent.
    first = since_day if since == since_day_start else since_day + timedelta(days=1)
    first_start = day_bounds(first)[0]
    summarised = (
        ProductDayCount.objects.filter(product_id=product_id)
        .values_list("kind")
        .annotate(total=Sum("events"), recent=Sum("events", filter=Q(day__gte=first)))
        .order_by()
    )
    rows, watermark = _with_watermark(summarised, marker=[Value(None, CharField()), Value(0)])
    newer = Q(id__gt=watermark)
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
    for kind, total, recent in [*rows, *unsummarised]:
        entry = found.setdefault(kind, {"total": 0, "recent": 0})
        entry["total"] += total
        entry["recent"] += recent or 0
    return {kind: entry for kind, entry in found.items() if entry["total"]}
