"""Where the scheduler's work is: an index of activity, so its jobs follow activity, not tenant count.

Every script touches one tenant shard's hash slot, so the index lives in a slot of its own
(``{<prefix>:sched}``) and the engine's faces write it after an operation, from the operation's
answer (``Marks``). Three keys:

- ``due`` (sorted set, member ``<tenant>/<shard>``, score ms): no lease of the shard expires and no
  delayed task of it comes due before the score. The sweep reads only members with a score at or
  before now. A new lease or delayed task lowers its shard's score (``ZADD LT``); the sweep sets it
  to the shard's earliest lease or due time after moving what was due, or drops the member when the
  shard has neither.
- ``touch`` (hash, same members): when a face last wrote the member. The sweep raises or drops a
  score only if nobody wrote the member since it read it and for ``MARGIN_MS`` before: a face writes
  a shard at most once per ``THROTTLE_MS`` unless its due time is earlier than the one it wrote last,
  so a lease it did not write about was preceded by a write the sweep then sees (a raise based on a
  read older than that lease is refused; a lowering is always safe).
- ``active`` (sorted set, member tenant, score ms of its last operation seen): the stats and webhook
  jobs visit the tenants active lately.
- ``watching`` (sorted set, member tenant, score ms until which someone watches it): an open dashboard
  overview registers its tenant, so the stats job visits it even while it is idle.

A lost write (a process killed between its operation and the write) is repaired by ``reconcile``,
which the retention job runs over every tenant once a minute.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from codeq_platform.engine.core import Call, Core, Plan
from codeq_platform.engine.model import Enqueued, Nacked, Settled, State, Task

THROTTLE_MS = 1000
MARGIN_MS = 5000

# ARGV: read_ms, margin_ms, then per member: member, touch as read ('' if none), new score ('' if none).
_SETTLE = """
local limit = tonumber(ARGV[1]) - tonumber(ARGV[2])
for i = 3, #ARGV, 3 do
  local member, seen, score = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local touch = redis.call('HGET', KEYS[2], member)
  if (touch or '') == seen and (touch == false or tonumber(touch) < limit) then
    if score == '' then
      redis.call('ZREM', KEYS[1], member)
      redis.call('HDEL', KEYS[2], member)
    else
      redis.call('ZADD', KEYS[1], score, member)
    end
  elseif score ~= '' then
    redis.call('ZADD', KEYS[1], 'LT', score, member)
  end
end
return 1
"""


def wall_ms(core: Core) -> int:
    """This host's time in ms (a test's clock, if the engine has one): when an index entry was written."""
    return int((core.clock or time.time)() * 1000)


def keys(prefix: str) -> tuple[str, str, str]:
    """The index's keys: due, touch, active."""
    tag = f"{{{prefix}:sched}}"
    return f"{prefix}:{tag}:due", f"{prefix}:{tag}:touch", f"{prefix}:{tag}:active"


def member(tenant: str, shard: int) -> str:
    return f"{tenant}/{shard}"


def parse_member(text: str) -> tuple[str, int]:
    tenant, _, shard = text.rpartition("/")
    return tenant, int(shard)


def _pairs(reply: list[Any]) -> list[tuple[bytes, float]]:
    """A WITHSCORES reply as (member, score) pairs: flat from a single node, paired from a cluster client."""
    if reply and isinstance(reply[0], list | tuple):
        return [(m, float(s)) for m, s in reply]
    return [(m, float(s)) for m, s in zip(reply[::2], reply[1::2], strict=True)]


class Marks:
    """What an engine face tells the index after its operations, throttled per process: a tenant's
    activity at most once per ``THROTTLE_MS``, a shard's due time then too unless it is earlier than
    the one written last."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._active: dict[str, int] = {}
        self._due: dict[tuple[str, int], tuple[int, int]] = {}

    def calls(self, result: object) -> list[Call]:
        """The index writes an operation's answer calls for (none most of the time)."""
        found: dict[tuple[str, int], int] = {}
        for tenant, task_id, due in _touched(result):
            where = (tenant, self.core.ks(tenant).shard_of(task_id))
            found[where] = min(found.get(where) or due, due) if due else found.get(where, 0)
        if not found:
            return []
        now = wall_ms(self.core)
        due_key, touch_key, active_key = keys(self.core.config.prefix)
        if len(self._active) > 100_000 or len(self._due) > 100_000:
            self.forget()
        calls: list[Call] = []
        for tenant in {tenant for tenant, _ in found}:
            if not 0 <= now - self._active.get(tenant, -THROTTLE_MS) < THROTTLE_MS:
                self._active[tenant] = now
                calls.append(("ZADD", active_key, "GT", now, tenant))
        for (tenant, shard), due in found.items():
            at, written = self._due.get((tenant, shard), (-THROTTLE_MS, 0))
            if not due or (0 <= now - at < THROTTLE_MS and written <= due):
                continue
            self._due[(tenant, shard)] = (now, due)
            calls += [("ZADD", due_key, "LT", due, member(tenant, shard)),
                      ("HSET", touch_key, member(tenant, shard), now)]  # fmt: skip
        return calls

    def forget(self) -> None:
        """Writes did not reach the store (or the memory is full): the next operations write again."""
        self._active.clear()
        self._due.clear()


def _touched(result: object) -> Iterable[tuple[str, str, int]]:
    """(tenant, task id, ms the sweep must look at the task or 0) for each task an answer touched."""
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, Task):
            yield item.tenant, item.id, item.lease_until_ms if item.state == State.LEASED else 0
        elif isinstance(item, Enqueued | Nacked):
            yield item.task.tenant, item.task.id, item.task.due_ms if item.task.state == State.DELAYED else 0
        elif isinstance(item, Settled):
            yield item.tenant, item.task_id, 0
            yield from ((t.tenant, t.id, t.lease_until_ms) for t in item.claimed)


def due_shards(prefix: str, now_ms: int, limit: int = 1000) -> Plan[list[tuple[str, int, str]]]:
    """The shards with something due by ``now_ms``: [(tenant, shard, touch as read or '')]."""
    due_key, touch_key, _ = keys(prefix)
    members = yield ("cmd", ("ZRANGEBYSCORE", due_key, "-inf", now_ms, "LIMIT", 0, limit))
    if not members:
        return []
    touches = yield ("cmd", ("HMGET", touch_key, *members))
    return [(*parse_member(m.decode()), (t or b"").decode()) for m, t in zip(members, touches, strict=True)]


def heads(core: Core, shards: list[tuple[str, int]]) -> Plan[list[int | None]]:
    """Each shard's earliest lease expiry or delayed due time (None: neither), in one round trip."""
    if not shards:
        return []
    calls = []
    for tenant, shard in shards:
        ks = core.ks(tenant)
        calls += [("ZRANGE", ks.key(shard, "leases"), 0, 0, "WITHSCORES"),
                  ("ZRANGE", ks.key(shard, "delayed"), 0, 0, "WITHSCORES")]  # fmt: skip
    replies = yield ("pipe", calls)
    found: list[int | None] = []
    for leases, delayed in zip(replies[::2], replies[1::2], strict=True):
        scores = [int(score) for _, score in _pairs(leases) + _pairs(delayed)]
        found.append(min(scores) if scores else None)
    return found


def settle(prefix: str, read_ms: int, entries: list[tuple[str, int, str, int | None]]) -> Plan[None]:
    """Give each swept shard ``(tenant, shard, touch as read, earliest due or None)`` its new score."""
    if not entries:
        return None
    due_key, touch_key, _ = keys(prefix)
    args: list[Any] = [read_ms, MARGIN_MS]
    for tenant, shard, touch, due in entries:
        args += [member(tenant, shard), touch, "" if due is None else due]
    yield ("cmd", ("EVAL", _SETTLE, 2, due_key, touch_key, *args))
    return None


def reconcile(core: Core, shards: list[tuple[str, int]]) -> Plan[int]:
    """Lower each shard's score to its earliest due time (repairs a write lost to a crash)."""
    found = yield from heads(core, shards)
    due_key, _, _ = keys(core.config.prefix)
    calls = [("ZADD", due_key, "LT", due, member(t, s)) for (t, s), due in zip(shards, found, strict=True) if due]
    if calls:
        yield ("pipe", calls)
    return len(calls)


def active_since(prefix: str, since_ms: int) -> Plan[list[str]]:
    """Tenants with an operation seen at or after ``since_ms``."""
    _, _, active_key = keys(prefix)
    members = yield ("cmd", ("ZRANGEBYSCORE", active_key, since_ms, "+inf"))
    return [m.decode() for m in members]


def forget_before(prefix: str, before_ms: int) -> Plan[int]:
    """Drop tenants idle since before ``before_ms`` from the active set (retention)."""
    _, _, active_key = keys(prefix)
    removed = yield ("cmd", ("ZREMRANGEBYSCORE", active_key, "-inf", f"({before_ms}"))
    return int(removed)


def watching_key(prefix: str) -> str:
    return f"{prefix}:{{{prefix}:sched}}:watching"


def watch(prefix: str, tenant: str, until_ms: int) -> Plan[None]:
    """Register ``tenant`` as watched until ``until_ms``."""
    yield ("cmd", ("ZADD", watching_key(prefix), until_ms, tenant))


def watched(prefix: str, now_ms: int) -> Plan[list[str]]:
    """Tenants someone watches at ``now_ms``."""
    members = yield ("cmd", ("ZRANGEBYSCORE", watching_key(prefix), now_ms, "+inf"))
    return [m.decode() for m in members]


def forget_watchers(prefix: str, now_ms: int) -> Plan[int]:
    """Drop registrations that lapsed (an overview closed without a word)."""
    removed = yield ("cmd", ("ZREMRANGEBYSCORE", watching_key(prefix), "-inf", f"({now_ms}"))
    return int(removed)
