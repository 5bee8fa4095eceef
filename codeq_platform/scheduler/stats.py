"""Live queue statistics for the dashboard: a snapshot of every tenant each second, and its history.

The scheduler's ``stats`` job builds one snapshot per tenant from the engine's counters (no queue is
scanned: depths are list lengths, set cardinalities and counters) and publishes it to the tenant's
channel-layer group, where the dashboard's websocket consumers relay it to browsers. It visits the
tenants that changed lately (the engine's activity index: an operation in the current or the previous
minute, and 10 s more, so the minute after the last change is closed) and the tenants someone is
watching (an open overview registers its tenant for ``WATCH_MS``, renewed while it lives); idle,
unwatched tenants cost nothing.

Completed and failed tasks per minute come from the engine's ever-growing counters: the job keeps,
per command, the counters as they were when the current minute began, as they were at its last look,
and the finished minutes' differences, at most ``HISTORY_MINUTES`` of them, in one hash per tenant in
the store. A restart of any process loses nothing, and only the job writes it (when a counter moved).
A minute is closed with what the job had seen by its last look; what finished after that look (a
tenant idle until now, or no job running) counts in the minute the job next looks.

The job's first look at a tenant takes the counters as they are (the past has no minutes to go to);
a command that appears after that starts from zero, so the tasks it finished before the job's next
tick are counted too. The hash's ``WATCHING`` field (no command contains ``/``) marks the difference.

The same job writes each command's ready depth into the metrics rollups (``codeq_platform.base.rollups``)
when it changed or a new minute began, in one pipeline per tenant; a tenant it does not visit had no
operation, so its depth stands as last written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import redis
from channels.layers import get_channel_layer

from codeq_platform.base import kv, rollups
from codeq_platform.engine import activity
from codeq_platform.errors import CodeqError, StoreUnavailable
from codeq_platform.scheduler.jobs import tenants_named

log = logging.getLogger("codeq.scheduler")

HISTORY_MINUTES = 60
# How long an open overview counts as watching its tenant without renewing.
WATCH_MS = 60_000
WATCH_RENEW_MS = 20_000
# The job visits a tenant this long after its last operation, past the next minute's start.
MINUTE_CLOSE_MS = 10_000
SNAPSHOT_THREADS = 8
# A snapshot covers at most this many commands (alphabetically), so a tenant with very many commands
# still gets a snapshot a second; the page says how many were left out.
MAX_COMMANDS = 200
MESSAGE_TYPE = "stats.snapshot"
WATCHING = "/since"


def history_key(prefix: str, tenant: str) -> str:
    """The per-minute history of one tenant: a hash, one field per command, in the tenant's first shard's slot."""
    return f"{prefix}:hist:{{t:{tenant}:0}}"


def group_name(tenant: str) -> str:
    """The channel-layer group of one tenant's snapshots."""
    return f"stats.{tenant}"


def tenant_snapshot(tenant: str, *, record: bool = False, now_ms: int | None = None) -> dict[str, Any]:
    """The tenant's queues now: per command depths, in flight, DLQ, oldest ready age and per-minute history.

    With ``record`` the history is advanced in the store (the stats job); readers leave it alone.
    """
    engine = kv.sync_engine()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    minute = now_ms // 60_000
    names = engine.commands(tenant)
    shown = names[:MAX_COMMANDS]
    key = history_key(engine.config.prefix, tenant)
    try:
        stored = {k.decode(): orjson.loads(v) for k, v in engine.client.hgetall(key).items()}
    except redis.RedisError as exc:
        raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc
    watching = stored.pop(WATCHING, None) is not None
    changed: dict[str, bytes] = {} if watching else {WATCHING: orjson.dumps(minute)}
    commands = []
    for name in shown:
        stats = engine.queue_stats(tenant, name)
        ended_badly = stats.failed + stats.dead
        entry = stored.get(name)
        if entry is None or entry["minute"] > minute:
            new = entry is None and watching
            entry = {"minute": minute, "completed": 0 if new else stats.completed,
                     "failed": 0 if new else ended_badly, "points": []}  # fmt: skip
            changed[name] = orjson.dumps(entry)
        elif entry["minute"] < minute:
            seen_completed, seen_failed = entry.get("seen", (stats.completed, ended_badly))
            done = [entry["minute"], max(seen_completed - entry["completed"], 0),
                    max(seen_failed - entry["failed"], 0)]  # fmt: skip
            points = [p for p in [*entry["points"], done] if p[0] > minute - HISTORY_MINUTES]
            entry = {"minute": minute, "completed": seen_completed, "failed": seen_failed, "points": points}
            changed[name] = orjson.dumps(entry)
        if entry.get("seen") != [stats.completed, ended_badly]:
            entry["seen"] = [stats.completed, ended_badly]
            changed[name] = orjson.dumps(entry)
        by_minute = {p[0]: p for p in entry["points"]}
        by_minute[minute] = [minute, max(stats.completed - entry["completed"], 0),
                             max(ended_badly - entry["failed"], 0)]  # fmt: skip
        window = [by_minute.get(m, (m, 0, 0)) for m in range(minute - HISTORY_MINUTES + 1, minute + 1)]
        commands.append({
            "command": name,
            "ready": stats.ready,
            "ready_by_priority": stats.ready_by_priority,
            "delayed": stats.delayed,
            "in_flight": stats.in_flight,
            "dlq": stats.dlq,
            "paused": stats.paused,
            "max_in_flight": stats.max_in_flight,
            "oldest_ready_age_ms": None if stats.oldest_ready_ms is None else max(now_ms - stats.oldest_ready_ms, 0),
            "completed": [p[1] for p in window],
            "failed": [p[2] for p in window],
            "dead_total": stats.dead,
        })  # fmt: skip
    if record and changed:
        try:
            engine.client.hset(key, mapping=changed)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc
    ages = [c["oldest_ready_age_ms"] for c in commands if c["oldest_ready_age_ms"] is not None]
    totals = {field: sum(c[field] for c in commands) for field in ("ready", "delayed", "in_flight", "dlq")} | {
        "completed": sum(sum(c["completed"]) for c in commands),
        "failed": sum(sum(c["failed"]) for c in commands),
        "oldest_ready_age_ms": max(ages) if ages else None,
    }
    return {
        "tenant": tenant,
        "at_ms": now_ms,
        "totals": totals,
        "commands": commands,
        "command_count": len(names),
    }


class _Publisher:
    """Sends to the channel layer from the scheduler's worker threads over one event loop of its own,
    so the layer keeps one connection instead of opening one per tick."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def send(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        if self.loop is None or self.loop.is_closed():
            self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._send(messages))

    @staticmethod
    async def _send(messages: list[tuple[str, dict[str, Any]]]) -> None:
        layer = get_channel_layer()
        for group, message in messages:
            await layer.group_send(group, message)


_publisher = _Publisher()
_snapshot_pool = ThreadPoolExecutor(max_workers=SNAPSHOT_THREADS, thread_name_prefix="codeq-stats")


def tenants_to_visit(now_ms: int) -> list[str]:
    """Tenants changed lately (the current or the previous minute, and ``MINUTE_CLOSE_MS`` into the next)
    and tenants someone is watching."""
    engine = kv.sync_engine()
    since = (now_ms - MINUTE_CLOSE_MS) // 60_000 * 60_000 - 60_000
    changed = engine.run(activity.active_since(engine.config.prefix, since))
    return sorted(set(changed) | set(engine.run(activity.watched(engine.config.prefix, now_ms))))


# (prefix, tenant) -> (minute, depths) as last written to the rollups by this process
_depths_written: dict[tuple[str, str], tuple[int, dict[str, int]]] = {}
# (prefix, tenant) -> each command's dead-letter counter as this process last saw it
_dead_seen: dict[tuple[str, str], dict[str, int]] = {}


def record_rollups(snapshot: dict[str, Any]) -> None:
    """Write to the metrics rollups what only the counters know: the snapshot's ready depths (unless this
    minute already has them) and the tasks dead-lettered since this process last looked, however they
    died (a nack, a lease that expired under a claim's or the sweep's maintenance), as failures of their
    command. A tenant's first look only notes its counters, so a restart pours nothing old into this minute."""
    tenant, now_ms = snapshot["tenant"], snapshot["at_ms"]
    depths = {c["command"]: c["ready"] for c in snapshot["commands"]}
    dead = {c["command"]: c["dead_total"] for c in snapshot["commands"]}
    minute = now_ms // 60_000
    engine = kv.sync_engine()
    prefix = engine.config.prefix
    written = (prefix, tenant)
    calls = [] if _depths_written.get(written) == (minute, depths) else rollups.depth_calls(prefix, tenant, now_ms,
                                                                                          depths)  # fmt: skip
    seen = _dead_seen.get(written)
    if seen is not None:
        died = rollups.Tally()
        for command, total in dead.items():
            n = total - seen.get(command, 0)
            if n > 0:
                died.add(tenant, now_ms, command, "bad", n)
                died.add(tenant, now_ms, rollups.ALL, "bad", n)
        calls += died.calls(prefix).get(tenant, [])
    if calls:
        try:
            engine.link.execute_many(calls)
        except redis.RedisError as exc:
            raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc
    _depths_written[written] = (minute, depths)
    _dead_seen[written] = dead


def _recorded_snapshot(slug: str, now_ms: int) -> dict[str, Any] | None:
    try:
        snapshot = tenant_snapshot(slug, record=True, now_ms=now_ms)
        record_rollups(snapshot)
    except CodeqError:
        log.exception("stats snapshot failed for tenant %s", slug)
        return None
    return snapshot


def broadcast() -> int:
    """The stats job: snapshot each tenant to visit, advance its history, publish it; returns tenants sent.
    Snapshots are a few store round trips each, taken ``SNAPSHOT_THREADS`` at a time."""
    now_ms = int(time.time() * 1000)
    slugs = sorted(tenants_named(tenants_to_visit(now_ms)))
    snapshots = _snapshot_pool.map(_recorded_snapshot, slugs, [now_ms] * len(slugs))
    messages = [(group_name(slug), {"type": MESSAGE_TYPE, "snapshot": snapshot})
                for slug, snapshot in zip(slugs, snapshots, strict=True) if snapshot is not None]  # fmt: skip
    _publisher.send(messages)
    return len(messages)
