"""Template filters for the dashboard pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from placements.selectors import setting_label
from recommender import labels

register = template.Library()


@register.filter
def source_label(source: str) -> str:
    """What put an item on the list, in words ("EASE model", "Bought before")."""
    return labels.source_label(source)


@register.filter
def algorithm_label(name: str) -> str:
    return labels.algorithm_label(name)


@register.filter
def counted(number: int | None, noun: str) -> str:
    """ "1 cart", "2,400 carts": the number with separators and the noun agreeing.

    ``noun`` is "singular" or "singular,plural" ("1 day" / "1 person,people").
    """
    singular, _, plural = noun.partition(",")
    number = number or 0
    return f"{intcomma(number)} {singular if number == 1 else plural or singular + 's'}"


@register.filter
def get_metric(metrics: dict | None, name: str) -> str:
    """A metric to four decimals, or a dash when the version does not report it."""
    value = (metrics or {}).get(name)
    return "—" if value is None else f"{float(value):.4f}"


@register.filter
def metric(value) -> str:
    return "—" if value is None else f"{float(value):.4f}"


@register.filter
def signed(value) -> str:
    return "" if value is None else f"{float(value):+.4f}"


@register.filter
def duration(value: timedelta | None) -> str:
    """1 h 02 min, 3 min 05 s or 4.2 s."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def percent(value: float | None) -> str:
    """A rate as a percentage with two decimals; "—" when there was nothing to divide by."""
    return "—" if value is None else f"{100 * value:.2f} %"


@register.filter
def placement_settings(settings: dict | None) -> str:
    """A settings variant's overrides in the placement's own words ("max per category 2,
    k 8"); empty: the placement as it is."""
    if not settings:
        return "the placement as it is"
    parts = []
    for name, value in settings.items():
        label = setting_label(name)
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{label} {shown}")
    return "the placement with " + ", ".join(parts)
