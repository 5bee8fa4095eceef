"""Template helpers of the dashboard: durations, timestamps, human times and the overview's sparklines.

``static/dashboard/dashboard.js`` draws the same things for live updates (``formatDuration``,
``sparkline``); keep the two in step.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from django import template
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


# The tenant's sections in the menu: (label, path under the tenant, the url names it covers, the least role).
SECTIONS = (
    ("Overview", "", ("overview",), "viewer"),
    ("Queues", "queues/", ("queues",), "viewer"),
    ("Metrics", "metrics/", ("metrics",), "viewer"),
    ("Workers", "workers/", ("workers",), "viewer"),
    ("Leases", "leases/", ("leases",), "viewer"),
    ("DLQ", "dlq/", ("dlq",), "viewer"),
    ("Task search", "tasks/", ("tasks", "task", "task_action"), "viewer"),
    ("Schedules", "schedules/", ("schedules",), "viewer"),
    ("Worker subscriptions", "subscriptions/", ("subscriptions",), "operator"),
    ("Webhooks", "webhooks/", ("webhooks",), "admin"),
    ("Tokens", "tokens/", ("tokens",), "admin"),
    ("Members", "members/", ("members",), "admin"),
    ("Usage", "usage/", ("usage",), "viewer"),
    ("Audit", "audit/", ("audit",), "viewer"),
)


@register.simple_tag
def nav_sections(access, current: str | None) -> list[dict[str, object]]:
    """The sections ``access`` may open, in menu order, the one named ``current`` marked: the menu shows each
    role only the pages it can use, and names the page you are on when it is folded on a phone."""
    return [
        {"label": label, "path": path, "current": current in names}
        for label, path, names, role in SECTIONS
        if access.allows(role)
    ]


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
def pretty_json(text: str) -> str:
    """JSON text indented for reading and editing; text that is not JSON as it is."""
    try:
        return json.dumps(jsontext.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def _relative(delta_ms: int) -> str:
    """An offset from now for people: ``just now``, ``4 m 12 s ago``, ``in 2 h 5 m`` (dashboard.js ``relative``)."""
    if abs(delta_ms) < 1000:
        return "just now"
    return f"in {duration_ms(delta_ms)}" if delta_ms > 0 else f"{duration_ms(-delta_ms)} ago"


@register.filter
def when(value: int | datetime | None) -> str:
    """The one way the console shows a moment: relative to now, the absolute UTC time on hover, and kept
    current by the script (``data-moment-ms``). Takes epoch milliseconds or an aware datetime; an em dash
    for 0 or none."""
    if not value:
        return "—"
    at_ms = int(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)
    at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    return format_html('<time datetime="{}" title="{}" data-moment-ms="{}">{}</time>',
                       at.isoformat(timespec="milliseconds").replace("+00:00", "Z"), timestamp_ms(at_ms), at_ms,
                       _relative(at_ms - int(time.time() * 1000)))  # fmt: skip
