"""Shopper writes from the API: one shopper's profile (country, segment, points, interests)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from behavior.models import Shopper
from catalog.models import Category


@transaction.atomic
def upsert_shopper(
    *,
    external_id: str,
    country: str | None = None,
    segment: str | None = None,
    points_balance: int | None = None,
    interests: Sequence[str] | None = None,
) -> tuple[Shopper, bool]:
    """Create or update the shopper; ``None`` leaves a field unchanged. Unknown interest slugs
    raise ``ValidationError`` and nothing is written."""
    categories: list[Category] | None = None
    if interests is not None:
        found = {c.slug: c for c in Category.objects.filter(slug__in=set(interests))}
        unknown = sorted(set(interests) - found.keys())
        if unknown:
            raise ValidationError({"interests": [f"Unknown category slugs: {', '.join(unknown)}."]})
        categories = list(found.values())
    # select_for_update: two concurrent PUTs for one shopper apply one after the other.
    shopper = Shopper.objects.select_for_update().filter(external_id=external_id).first()
    created = shopper is None
    if created:
        shopper, created = Shopper.objects.get_or_create(external_id=external_id)
    changed = []
    for name, value in (
        ("country", country),
        ("segment", segment),
        ("points_balance", points_balance),
    ):
        if value is not None and getattr(shopper, name) != value:
            setattr(shopper, name, value)
            changed.append(name)
    if changed:
        shopper.save(update_fields=changed)
    if categories is not None:
        shopper.interests.set(categories)
    return shopper, created
