"""Reads for the dashboard's shopper pages: search with activity, a profile and its timeline."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from behavior.models import Event, Shopper

TIMELINE_LENGTH = 25


def shopper_search(*, q: str = "", country: str = "", segment: str = "") -> QuerySet[Shopper]:
    """Shoppers whose external id starts with ``q`` (exact country / segment when given)."""
    shoppers = Shopper.objects.all()
    if q:
        shoppers = shoppers.filter(external_id__istartswith=q)
    if country:
        shoppers = shoppers.filter(country=country)
    if segment:
        shoppers = shoppers.filter(segment=segment)
    return shoppers.order_by("external_id")


def activity_of(*, shopper_ids: list[int]) -> dict[int, dict]:
    """Shopper pk → {"events": n, "last": datetime} for a page of shoppers, in one query."""
    rows = (
        Event.objects.filter(shopper_id__in=shopper_ids)
        .values_list("shopper_id")
        .annotate(n=Count("id"), last=Max("occurred_at"))
        .order_by()
    )
    return {pk: {"events": n, "last": last} for pk, n, last in rows}


def shopper_choices() -> dict[str, list[str]]:
    """Distinct countries and segments, for the search filters."""
    return {
        "countries": _distinct("country"),
        "segments": _distinct("segment"),
    }


def _distinct(field: str) -> list[str]:
    values = Shopper.objects.exclude(**{field: ""}).values_list(field, flat=True)
    return list(values.distinct().order_by(field))


def shopper_with_interests(*, external_id: str) -> Shopper | None:
    return Shopper.objects.filter(external_id=external_id).prefetch_related("interests").first()


def timeline(*, shopper: Shopper, limit: int = TIMELINE_LENGTH) -> list[Event]:
    """The shopper's latest events, newest first, with their products."""
    events = Event.objects.filter(shopper=shopper).select_related("product")
    return list(events.order_by("-occurred_at", "-id")[:limit])


def event_count(*, shopper: Shopper) -> int:
    return Event.objects.filter(shopper=shopper).count()


def product_activity(*, product_id: int, since: datetime) -> dict[str, dict[str, int]]:
    """Event counts by kind for one product: all time and since ``since`` (one query)."""
    rows = (
        Event.objects.filter(product_id=product_id)
        .values_list("kind")
        .annotate(total=Count("id"), recent=Count("id", filter=Q(occurred_at__gte=since)))
        .order_by()
    )
    return {kind: {"total": total, "recent": recent} for kind, total, recent in rows}


def redeemable_counts(*, points_prices: list[int]) -> dict[int, int]:
    """Points price → how many shoppers hold at least that many points (one query, bisected)."""
    balances = list(
        Shopper.objects.filter(points_balance__gt=0)
        .order_by("points_balance")
        .values_list("points_balance", flat=True)
    )
    return {price: len(balances) - bisect_left(balances, price) for price in points_prices}
