"""API requests and 429s per tenant, counted without a round trip per request.

Each process adds requests up in memory and sends them at most every ``CODEQ_USAGE_FLUSH_SECONDS``
(and at the latest that long after a request) in one pipelined call, off the request's path: into
the day's ``requests`` usage field of the tenant's shard-0 counters (rolled up like the task
counters) and into the hour's per-minute traffic hash the staff console reads (requests per second
and 429s over the last hour). A web process that is killed loses at most its last interval's request
counts; task counts live in the engine's scripts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

from codeq_platform.base import kv
from codeq_platform.engine.keys import DAY_MS, keyspace, traffic_key, usage_field

log = logging.getLogger("codeq.api")
TRAFFIC_TTL_SECONDS = 2 * 3600 + 300

_pending: dict[tuple[str, int, int], list[int]] = {}
_last_flush = 0.0
_tasks: set[asyncio.Task[None]] = set()
# The flush planned for counts that arrived before they were due, and the event loop it runs on.
_timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None


def note(tenant: str, *, throttled: bool) -> None:
    """Count one request of ``tenant`` (a 429 when ``throttled``); the counts are sent now if they are due,
    else when they fall due, so the last requests before a quiet spell are not held back."""
    global _timer
    now = time.time()
    counts = _pending.setdefault((tenant, int(now * 1000) // DAY_MS, int(now // 60)), [0, 0])
    counts[0] += 1
    counts[1] += throttled
    wait = _last_flush + settings.CODEQ_USAGE_FLUSH_SECONDS - now
    loop = asyncio.get_running_loop()
    if wait <= 0:
        _flush()
    elif _timer is None or _timer[0] is not loop or _timer[1].cancelled():
        _timer = (loop, loop.call_later(wait, _flush))


def _flush() -> None:
    global _last_flush, _timer
    if _timer is not None:
        _timer[1].cancel()
        _timer = None
    if not _pending:
        return
    _last_flush = time.time()
    batch = dict(_pending)
    _pending.clear()
    task = asyncio.get_running_loop().create_task(_send(batch))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _send(batch: dict[tuple[str, int, int], list[int]]) -> None:
    prefix = settings.CODEQ_KV_PREFIX
    calls: list[tuple[Any, ...]] = []
    for (tenant, day, minute), (requests, throttled) in batch.items():
        hour = traffic_key(prefix, tenant, minute // 60)
        calls += [("HINCRBY", keyspace(prefix, tenant, 1).key(0, "stats"), usage_field(day, "requests"), requests),
                  ("HINCRBY", hour, str(minute), requests), ("EXPIRE", hour, TRAFFIC_TTL_SECONDS)]  # fmt: skip
        if throttled:
            calls.append(("HINCRBY", hour, f"{minute}:429", throttled))
    try:
        await kv.async_engine().link.execute_many(calls)
    except Exception:  # the store is down: keep the counts for the next send
        log.warning("could not send request counts; keeping them for the next try")
        for key, (requests, throttled) in batch.items():
            counts = _pending.setdefault(key, [0, 0])
            counts[0] += requests
            counts[1] += throttled
