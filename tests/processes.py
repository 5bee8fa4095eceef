"""What tests need to start the platform's own processes (web server, scheduler, ``make run``)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit, urlunsplit

from django.db import connection


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
