"""Template helpers of the dashboard: durations, timestamps and the overview's sparklines.

``static/dashboard/dashboard.js`` draws the same things for live updates (``formatDuration``,
``sparkline``); keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

register = template.Library()

SPARK_WIDTH, SPARK_HEIGHT = 120, 28


@register.filter
def duration_ms(value: int | None) -> str:
    """A duration for people: ``45 s``, ``4 m 12 s``, ``2 h 5 m``, ``3 d 4 h``; an em dash for none."""
    if value is None:
        return "—"
    seconds = int(value) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} m {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@register.filter
def left_until(expiry_ms: int, now_ms: int) -> str:
    """Time left until ``expiry_ms`` as seen at ``now_ms``; a lease past it waits for the sweep."""
    left = int(expiry_ms) - int(now_ms)
    return duration_ms(left) if left > 0 else "expired, awaiting sweep"


@register.filter
def timestamp_ms(value: int | None) -> str:
    """An epoch-milliseconds time as UTC ``YYYY-MM-DD HH:MM:SS``; an em dash for 0 or none."""
    if not value:
        return "—"
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _points(values: list[int], top: int) -> str:
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{SPARK_HEIGHT - 1 - (v / top) * (SPARK_HEIGHT - 2):.1f}" for i, v in enumerate(values)
    )


@register.simple_tag
def sparkline(completed: list[int], failed: list[int]) -> str:
    """Completed (green) and failed (red) per minute as one small SVG, sharing one scale."""
    top = max([*completed, *failed, 1])
    label = f"Last hour: {sum(completed)} completed, {sum(failed)} failed; busiest minute {top}"
    return format_html(
        '<svg class="spark" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">'
        '<title>{}</title><polyline class="spark-ok" points="{}"/><polyline class="spark-bad" points="{}"/></svg>',
        SPARK_WIDTH, SPARK_HEIGHT, SPARK_WIDTH, SPARK_HEIGHT, label, label,
        _points(completed, top), _points(failed, top),
    )  # fmt: skip
