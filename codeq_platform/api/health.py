"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from codeq_platform.api.errors import json_response
from codeq_platform.base import db, kv


async def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers."""
    return json_response({"status": "ok"})


async def readyz(request: HttpRequest) -> HttpResponse:
    """The database and the KV store both answer; 503 otherwise."""
    database = await db.run(db.database_ok)
    try:
        store = await kv.async_engine().link.execute(("PING",)) in (b"PONG", "PONG", True)
    except Exception:  # connection refused, timeout, cluster down: all mean "not ready"
        store = False
    checks = {"database": "ok" if database else "down", "kv": "ok" if store else "down"}
    ok = database and store
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)
