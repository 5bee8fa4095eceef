"""The ASGI app served by a real server process (uvicorn or granian) on the test database, for the suites
that need real sockets: concurrency, keep-alive connections, the fuzz check."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from tests.conftest import JWT_SECRET
from tests.processes import answers, child_database_url, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]

COMMANDS = {
    "uvicorn": lambda port: [sys.executable, "-m", "uvicorn", "codeq_platform.asgi:application", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"],
    "granian": lambda port: [sys.executable, "-m", "granian", "--interface", "asginl",
                             "codeq_platform.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "1", "--no-ws", "--log-level", "warning"],
}  # fmt: skip


@contextlib.contextmanager
def live_server(django_db_blocker, server: str = "uvicorn", **env: str) -> Iterator[str]:
    """The base URL of ``server`` serving the app on the test database, with a KV key prefix of its own
    (its keys are deleted afterwards); ``env`` adds settings."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    prefix = f"cqlive{uuid.uuid4().hex[:10]}"
    port = free_port()
    child_env = {**os.environ, "DATABASE_URL": child_database_url(name), "CODEQ_KV_PREFIX": prefix,
                 "CODEQ_KV_URL": settings.CODEQ_KV_URL, "CODEQ_JWT_SECRET": JWT_SECRET,
                 "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{prefix}:cache",
                 **env}  # fmt: skip
    process = subprocess.Popen(COMMANDS[server](port), cwd=ROOT, env=child_env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"), "the server did not start",
                   alive=lambda: process.poll() is None)  # fmt: skip
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        store = redis.Redis.from_url(settings.CODEQ_KV_URL)
        for key in store.scan_iter(match=f"{prefix}:*", count=1000):
            store.delete(key)
        store.close()
