"""The metrics and workers pages: charts of the rollups over 1 h, 24 h or 7 d, and who is working now.

Both read only what the store keeps bounded (``codeq_platform.base.rollups``: at most 168 buckets a
window, the workers seen within the hour) and stay live while open: ``metrics.js`` fetches the page's
``part`` (the charts, or the workers' table) again every few seconds and puts it in place. Every member
may read them; they change nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from codeq_platform.base import kv, rollups
from codeq_platform.engine import command_key
from codeq_platform.errors import StoreUnavailable
from dashboard.access import TenantAccess, tenant_view
from dashboard.answers import bad_request, page_down
from dashboard.charts import time_lines
from tenants.models import ApiToken

# window -> (buckets between x labels, label format)
AXES = {"1h": (10, "%H:%M"), "24h": (18, "%H:%M"), "7d": (24, "%a %d")}
LIVE_MS = {"1h": 5_000, "24h": 15_000, "7d": 60_000}
MAX_WORKERS_SHOWN = 500
# The token's leases column counts the first page of leases (soonest expiry first), at most this many.
LEASES_COUNTED = 500


def millis(value: float) -> str:
    """A duration in ms for an axis or a hover: ``850 ms``, ``2.5 s``, ``4.2 min``, ``1.5 h``."""
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    if value < 3_600_000:
        return f"{value / 60_000:.1f} min"
    return f"{value / 3_600_000:.1f} h"


def ago(ms: int, now_ms: int) -> str:
    """How long before ``now_ms``: ``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    minutes = max(now_ms - ms, 0) // 60_000
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} d ago"


def _charts(window: rollups.Window, scope: str, now_ms: int) -> list[tuple[str, str, object]]:
    every, fmt = AXES[window.name]
    times = [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in window.starts_ms]
    labels = [t.strftime(fmt) if (len(times) - 1 - i) % every == 0 else "" for i, t in enumerate(times)]
    titles = [f"{t:%Y-%m-%d %H:%M} UTC ({ago(ms, now_ms)})" for t, ms in zip(times, window.starts_ms, strict=True)]
    rate = "per minute" if window.seconds == 60 else f"per minute (average of {window.seconds // 60} min)"
    return [
        ("throughput", f"Completed and failed {rate}", time_lines(labels, titles, [
            ("line-ok", "completed", window.per_minute(scope, "ok")),
            ("line-bad", "failed", window.per_minute(scope, "bad"))])),
        ("depth", "Ready depth", time_lines(labels, titles, [("line-depth", "ready", window.depths(scope))])),
        ("wait", "Wait time (ready → claim)", time_lines(labels, titles, [
            ("line-p50", "p50", window.percentiles(scope, "w", 0.5)),
            ("line-p95", "p95", window.percentiles(scope, "w", 0.95))], millis)),
        ("run", "Run time (claim → result)", time_lines(labels, titles, [
            ("line-p50", "p50", window.percentiles(scope, "r", 0.5)),
            ("line-p95", "p95", window.percentiles(scope, "r", 0.95))], millis)),
        ("failure-rate", "Failure rate (%)", time_lines(labels, titles, [
            ("line-bad", "failed %", window.failure_rate(scope))], lambda v: f"{v:.3g} %")),
    ]  # fmt: skip


def _summary(window: rollups.Window, scope: str) -> dict[str, str]:
    ok, bad = sum(window.counts(scope, "ok")), sum(window.counts(scope, "bad"))
    depths = [d for d in window.depths(scope) if d is not None]

    def quantile(figure: str, q: float) -> str:
        value = window.overall_percentile(scope, figure, q)
        return "—" if value is None else millis(value)

    return {"completed": f"{ok:,}", "failed": f"{bad:,}",
            "failure_rate": f"{100 * bad / (ok + bad):.3g} %" if ok + bad else "—",
            "depth": f"{depths[-1]:,}" if depths else "—",
            "wait_p50": quantile("w", 0.5), "wait_p95": quantile("w", 0.95),
            "run_p50": quantile("r", 0.5), "run_p95": quantile("r", 0.95)}  # fmt: skip


@tenant_view()
def metrics_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Charts of one window (``1h``, ``24h``, ``7d``) for the tenant or one ``command``; ``part=charts``
    answers the charts alone (the live refresh)."""
    name = request.GET.get("window", "1h")
    command = request.GET.get("command", "").strip()
    if name not in rollups.WINDOWS:
        return bad_request(request, "The window is one of 1h, 24h and 7d.")
    if len(command) > 200 or "/" in command or any(c.isspace() for c in command):
        return bad_request(request, "That is not a command name: 1-200 characters without spaces or '/'.")
    slug = access.tenant.slug
    engine = kv.sync_engine()
    now_ms = int(time.time() * 1000)
    scope = command_key(command) if command else rollups.ALL
    try:
        window = rollups.read_window(engine.link, engine.config.prefix, slug, name, now_ms, [scope])
        commands = engine.commands(slug) if request.GET.get("part") != "charts" else []
    except StoreUnavailable:
        return page_down(request)
    context = {"window": name, "windows": list(rollups.WINDOWS), "command": command, "commands": commands,
               "charts": _charts(window, scope, now_ms), "summary": _summary(window, scope),
               "live_ms": LIVE_MS[name], "updated": datetime.fromtimestamp(now_ms / 1000, tz=UTC)}  # fmt: skip
    template = "dashboard/_metrics_charts.html" if request.GET.get("part") == "charts" else "dashboard/metrics.html"
    return render(request, template, context)


@tenant_view()
def workers_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The workers seen within the hour, last seen first; ``part=table`` answers the table alone."""
    slug = access.tenant.slug
    engine = kv.sync_engine()
    now_ms = int(time.time() * 1000)
    try:
        workers = rollups.read_workers(engine.link, engine.config.prefix, slug, now_ms)[:MAX_WORKERS_SHOWN]
        leases = engine.leases(slug, limit=LEASES_COUNTED)
    except StoreUnavailable:
        return page_down(request)
    tokens = {pk: (name, jti) for pk, name, jti in ApiToken.objects.filter(
        tenant=access.tenant, pk__in={w.token_id for w in workers}).values_list("pk", "name", "jti")}  # fmt: skip
    held: dict[str, int] = {}
    for task in leases.tasks:
        held[task.worker_id] = held.get(task.worker_id, 0) + 1
    rows = [{"worker": w, "token": tokens.get(w.token_id, (w.token_name,))[0],
             "token_in_flight": held.get(f"token:{tokens[w.token_id][1]}", 0) if w.token_id in tokens else 0,
             "recent": sum(w.claims_per_minute),
             "per_minute": sum(w.claims_per_minute) / max(len(w.claims_per_minute), 1)}
            for w in workers]  # fmt: skip
    context = {"rows": rows, "leases_capped": leases.next_cursor is not None,
               "updated": datetime.fromtimestamp(now_ms / 1000, tz=UTC)}  # fmt: skip
    template = "dashboard/_workers_table.html" if request.GET.get("part") == "table" else "dashboard/workers.html"
    return render(request, template, context)
