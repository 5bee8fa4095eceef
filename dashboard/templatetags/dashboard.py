"""Template helpers of the dashboard: durations, timestamps, human times and the overview's sparklines.

``static/dashboard/dashboard.js`` draws the same things for live updates (``formatDuration``,
``sparkline``); keep the two in step.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils.html import format_html

from codeq_platform.engine import jsontext

register = template.Library()

SPARK_WIDTH, SPARK_HEIGHT = 180, 28


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


def _bars(bases: list[int], values: list[int], top: int) -> str:
    """One SVG path of bars, one per minute, each standing on its base (stacking failed on completed)."""
    width = SPARK_WIDTH / len(values)
    scale = (SPARK_HEIGHT - 1) / top
    return "".join(
        f"M{i * width:.1f},{SPARK_HEIGHT - base * scale:.1f}V{SPARK_HEIGHT - (base + v) * scale:.1f}"
        f"h{width * 0.8:.1f}V{SPARK_HEIGHT - base * scale:.1f}Z"
        for i, (base, v) in enumerate(zip(bases, values, strict=True))
        if v
    )


@register.simple_tag
def sparkline(completed: list[int], failed: list[int]) -> str:
    """Completed (green) and failed (red, stacked on top) per minute as small SVG bars on one scale."""
    totals = [c + f for c, f in zip(completed, failed, strict=True)]
    top = max([*totals, 1])
    label = f"Last hour: {sum(completed)} completed, {sum(failed)} failed; busiest minute {max(totals, default=0)}"
    return format_html(
        '<svg class="spark" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">'
        '<title>{}</title><line class="spark-axis" x1="0" y1="{}" x2="{}" y2="{}"/>'
        '<path class="spark-ok" d="{}"/><path class="spark-bad" d="{}"/></svg>',
        SPARK_WIDTH, SPARK_HEIGHT, SPARK_WIDTH, SPARK_HEIGHT, label, label,
        SPARK_HEIGHT - 0.5, SPARK_WIDTH, SPARK_HEIGHT - 0.5,
        _bars([0] * len(completed), completed, top), _bars(completed, failed, top),
    )  # fmt: skip


@register.filter
def allows(access, role: str) -> bool:
    """Whether a ``TenantAccess`` reaches ``role``: the navigation shows a page only to those it serves."""
    return bool(access) and access.allows(role)


@register.filter
def seconds_long(value: int) -> str:
    """A period in seconds for people, in its largest whole unit: ``1 day``, ``36 hours``, ``90 seconds``."""
    seconds = int(value)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


@register.filter
def when(value: int | datetime | None) -> str:
    """A moment for people: relative ("3 minutes ago", "2 hours from now") with the UTC time on hover.
    Takes epoch milliseconds or an aware datetime; an em dash for 0 or none."""
    if not value:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    moment = moment.astimezone(UTC)
    return format_html('<time datetime="{}" title="{}">{}</time>', moment.isoformat(),
                       moment.strftime("%Y-%m-%d %H:%M:%S UTC"), naturaltime(moment))  # fmt: skip


@register.filter
def pretty_json(text: str) -> str:
    """JSON text indented for reading and editing; text that is not JSON as it is."""
    try:
        return json.dumps(jsontext.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


@register.filter
def relative_ms(value: int, now_ms: int) -> str:
    """``value`` as seen from ``now_ms``, for people: ``just now``, ``4 m 12 s ago``, ``in 2 h 5 m``."""
    delta = int(value) - int(now_ms)
    if abs(delta) < 1000:
        return "just now"
    return f"in {duration_ms(delta)}" if delta > 0 else f"{duration_ms(-delta)} ago"


@register.simple_tag
def moment(value: int | None, now_ms: int) -> str:
    """A time as people read it: relative to the page's ``now_ms``, the absolute UTC time on hover; the
    script keeps the relative text current (``data-moment-ms``)."""
    if not value:
        return "—"
    at = datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return format_html('<time datetime="{}" title="{}" data-moment-ms="{}">{}</time>',
                       at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), timestamp_ms(value), value,
                       relative_ms(value, now_ms))  # fmt: skip
