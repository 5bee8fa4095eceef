"""Database work from async code outside Django's request cycle (the API's fast ASGI lane).

Django closes stale or broken connections when a request starts and finishes; the fast lane sends
no request signals, so each piece of database work does the same around itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connection, connections

T = TypeVar("T")


def _recycle() -> None:
    # As django.db.close_old_connections, but leaving a connection inside a transaction alone (the
    # caller's, e.g. a test's).
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def _recycled(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    _recycle()
    try:
        return fn(*args, **kwargs)
    finally:
        _recycle()


async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on Django's sync thread with fresh-enough connections."""
    return await sync_to_async(_recycled)(fn, *args, **kwargs)


def database_ok() -> bool:
    """The database answers a query (readiness: ``/readyz`` and ``manage.py codeq_ready``)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # any driver error means "not ready"; the probe must answer, not raise
        return False
