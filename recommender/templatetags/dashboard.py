"""Template filters for the dashboard pages."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


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
