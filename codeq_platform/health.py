"""Liveness and readiness probes (no auth)."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse

from codeq_platform import db, kv
from codeq_platform.api.errors import json_response


async def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers."""
    return json_response({"status": "ok"})


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any driver error means "not ready"; the probe must answer, not raise
        return False


async def readyz(request: HttpRequest) -> HttpResponse:
    """The database and the KV store both answer; 503 otherwise."""
    database = await db.run(database_ok)
    try:
        store = await kv.async_engine().link.execute(("PING",)) in (b"PONG", "PONG", True)
    except Exception:  # connection refused, timeout, cluster down: all mean "not ready"
        store = False
    checks = {"database": "ok" if database else "down", "kv": "ok" if store else "down"}
    ok = database and store
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)
