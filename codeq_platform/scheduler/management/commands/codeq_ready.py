"""``codeq_ready``: exit 0 when the database and the KV store answer, 1 otherwise.

The readiness ``/readyz`` reports, for processes that serve no HTTP: the scheduler's container health
check runs it.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from codeq_platform.base import db, kv


class Command(BaseCommand):
    help = "Exit 0 when the database and the KV store both answer, 1 otherwise."

    def handle(self, *args, **options) -> None:
        try:
            store = kv.sync_engine().link.execute(("PING",)) in (b"PONG", "PONG", True)
        except Exception:  # connection refused, timeout, cluster down: all mean "not ready"
            store = False
        database = db.database_ok()
        self.stdout.write(f"database {'ok' if database else 'down'}, kv {'ok' if store else 'down'}")
        if not (database and store):
            raise CommandError("not ready")
