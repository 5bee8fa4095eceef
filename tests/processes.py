"""What tests need to start the platform's own processes (web server, scheduler, ``make run``)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_database_url(name: str | None = None) -> str:
    """The test database (pytest-django's ``test_<name>``; SQLite's is a file), for another process."""
    name = name or connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextlib.contextmanager
def api_server(env: dict[str, str], *, clock_ahead_seconds: float = 0) -> Iterator[str]:
    """The base URL of a uvicorn serving the platform with ``env``, ready to answer; with
    ``clock_ahead_seconds``, the process's own clock (``time.time``) runs that far ahead, as another
    host's might (``tests/skewed_clock.py``)."""
    launcher = ["-m", "tests.skewed_clock", str(clock_ahead_seconds)] if clock_ahead_seconds else ["-m"]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *launcher, "uvicorn", "codeq_platform.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
