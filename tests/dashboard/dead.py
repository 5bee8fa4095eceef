"""Dead tasks made the way production makes them: enqueued with one attempt, claimed, nacked."""

from __future__ import annotations

import time

from codeq_platform.base import kv
from codeq_platform.engine import NewTask, Task


def kill(tenant, command: str = "media.resize", n: int = 1, error: str = "boom") -> list[Task]:
    """``n`` dead tasks of ``command`` with last error ``error``, oldest death first."""
    engine = kv.sync_engine()
    engine.enqueue_batch(tenant.slug, [NewTask(command, {"i": i}, max_attempts=1) for i in range(n)])
    dead = []
    for _ in range(n):
        task = engine.claim(tenant.slug, "w", [command])[0]
        dead.append(engine.nack(tenant.slug, task.id, "w", reason=error).task)
        time.sleep(0.002)  # a distinct time of death each, so "newest first" has one answer
    return dead


def dlq_ids(tenant, command: str = "media.resize") -> set[str]:
    return {t.id for t in kv.sync_engine().dlq(tenant.slug, command, limit=500).tasks}
