"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from codeq_platform.api import recorder, wakeups
from codeq_platform.api.errors import json_response
from codeq_platform.base import db, kv
from codeq_platform.scheduler import heartbeat


async def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers."""
    return json_response({"status": "ok"})


async def readyz(request: HttpRequest) -> HttpResponse:
    """The database and the KV store both answer; 503 otherwise. The scheduler's state is shown
    beside them (``ok``, ``degraded``: a loop down or a job failing, ``down``: no live scheduler) but
    does not make this web process unready: it serves the API without a scheduler. Nor does this
    process's metrics flusher (``recorder``: ``ok``, ``failing`` while the store refuses its samples,
    ``down`` when it had stopped, after which it is started again), nor this process's wake-up listener
    (``wakeups``: ``idle`` before the first long-poll, ``ok``, ``reconnecting``, ``down``; long-polls fall
    back to trying once a second without it)."""
    database = await db.run(db.database_ok)
    link = kv.async_engine().link
    try:
        store = await link.execute(("PING",)) in (b"PONG", "PONG", True)
    except Exception:  # connection refused, timeout, cluster down: all mean "not ready"
        store = False
    beats: list[heartbeat.Heartbeat] = []
    if store:
        with contextlib.suppress(Exception):  # heartbeats the store cannot give count as no scheduler
            beats = await heartbeat.read(link, settings.CODEQ_KV_PREFIX)
    checks = {"database": "ok" if database else "down", "kv": "ok" if store else "down",
              "scheduler": heartbeat.summary(beats)}  # fmt: skip
    flusher = recorder.state()
    checks["recorder"] = flusher.summary
    listener = wakeups.current()
    checks["wakeups"] = listener.summary if listener is not None else "idle"
    processes = [{"process": b.process, "ageSeconds": round(b.age_seconds, 1), "loops": b.loops, "jobs": b.jobs}
                 for b in beats if b.fresh]  # fmt: skip
    ok = database and store
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks, "scheduler": processes,
                          "recorder": recorder.as_dict(flusher)}, 200 if ok else 503)  # fmt: skip
