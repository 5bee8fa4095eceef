"""Worker subscriptions (reference §5): where wake-ups go, kept in the KV store, not the database.

A subscription is ephemeral: it lives ``ttlSeconds`` unless heartbeated, so it is a record in a
per-tenant hash plus its expiry in a sorted set (both under ``SubscriptionKeys``, one hash slot).
Nothing has to run for one to lapse: reads only see entries whose expiry is in the future, every
write drops up to 100 lapsed ones, and both keys expire with their latest subscription.

Each write is one script, so a heartbeat cannot revive a subscription a concurrent write has just
dropped. A subscribe writes the expiry before the record: a crash between the two leaves an expiry
without a record, which reads skip and the next write drops once it lapses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from codeq_platform.engine.engine import UNAVAILABLE
from codeq_platform.engine.keys import SubscriptionKeys, command_key
from codeq_platform.errors import Conflict, NotFound, StoreUnavailable

MODES = ("fanout", "group", "hash")
MAX_PER_TENANT = 1000
GROUP_GATE_MS = 1000

# KEYS[1] records (hash)  KEYS[2] expiry (zset, score = expiry ms); ARGV[1] is always now (ms).
_DROP_LAPSED = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
if #lapsed > 0 then
  redis.call('HDEL', KEYS[1], unpack(lapsed))
  redis.call('ZREM', KEYS[2], unpack(lapsed))
end
"""
_EXPIRE_WITH_LAST = """
local last = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  local at = string.format('%d', tonumber(last[2]))
  redis.call('PEXPIREAT', KEYS[1], at)
  redis.call('PEXPIREAT', KEYS[2], at)
end
"""

# ARGV[2] id  ARGV[3] record (JSON)  ARGV[4] expiry ms  ARGV[5] most live subscriptions.
# Returns 1, or -1 when the tenant has the most already.
_SUBSCRIBE = (
    _DROP_LAPSED
    + """
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return -1 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
"""
    + _EXPIRE_WITH_LAST
    + "return 1"
)

# ARGV[2] id  ARGV[3] new TTL ms (0: the TTL it was created with).
# Returns the new expiry ms, or -1 when there is no live subscription of that id.
_EXTEND = (
    """
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
local record = redis.call('HGET', KEYS[1], ARGV[2])
local expires = -1
if score and record and tonumber(score) > tonumber(ARGV[1]) then
  local ttl = tonumber(ARGV[3])
  if ttl == 0 then ttl = cjson.decode(record).ttlSeconds * 1000 end
  expires = tonumber(ARGV[1]) + ttl
  redis.call('ZADD', KEYS[2], string.format('%d', expires), ARGV[2])
end
"""
    + _DROP_LAPSED
    + _EXPIRE_WITH_LAST
    + "return expires"
)

# ARGV[2] id.  Returns 1 if a live subscription was removed, else 0.
_REMOVE = (
    """
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[2])
"""
    + _DROP_LAPSED
    + _EXPIRE_WITH_LAST
    + """
if score and tonumber(score) > tonumber(ARGV[1]) then return 1 end
return 0
"""
)

# Returns [expiry ms, record, ...] of every live subscription, soonest expiry first.
_LIVE = """
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'WITHSCORES')
if #entries == 0 then return {} end
local ids = {}
for i = 1, #entries, 2 do ids[#ids + 1] = entries[i] end
local records = redis.call('HMGET', KEYS[1], unpack(ids))
local out = {}
for i, record in ipairs(records) do
  if record then
    out[#out + 1] = entries[2 * i]
    out[#out + 1] = record
  end
end
return out
"""

# KEYS[1] rotation counters (hash)  KEYS[2] the group's gate  KEYS[3..] each member's interval key.
# ARGV[1] counter field  ARGV[2] gate ms  ARGV[3..] each member's interval ms.
# Returns the 0-based index of the member to wake, or -1 (the group was just woken, or every
# member is inside its interval). The gate makes a group woken once per wake-up even when several
# listener processes receive the same message; the rotation skips members inside their interval.
_PICK_IN_GROUP = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return -1 end
local n = #KEYS - 2
local start = redis.call('HINCRBY', KEYS[1], ARGV[1], 1) - 1
redis.call('PEXPIRE', KEYS[1], 86400000)
for i = 0, n - 1 do
  local idx = (start + i) % n
  if redis.call('SET', KEYS[3 + idx], '1', 'NX', 'PX', ARGV[3 + idx]) then return idx end
end
return -1
"""


@dataclass(frozen=True)
class WorkerSubscription:
    """One worker subscription as stored; ``event_types`` empty means every command of the tenant."""

    id: str
    callback_url: str
    event_types: tuple[str, ...]
    delivery_mode: str
    group_id: str
    min_interval_seconds: int
    ttl_seconds: int
    created_ms: int
    created_by: str
    expires_ms: int = 0

    def wants(self, command: str) -> bool:
        return not self.event_types or command_key(command) in self.event_types

    def record(self) -> bytes:
        return orjson.dumps({
            "id": self.id, "callbackUrl": self.callback_url, "eventTypes": list(self.event_types),
            "deliveryMode": self.delivery_mode, "groupId": self.group_id,
            "minIntervalSeconds": self.min_interval_seconds, "ttlSeconds": self.ttl_seconds,
            "createdMs": self.created_ms, "createdBy": self.created_by,
        })  # fmt: skip

    @classmethod
    def from_record(cls, raw: bytes, expires_ms: int) -> WorkerSubscription:
        data = orjson.loads(raw)
        return cls(
            id=data["id"], callback_url=data["callbackUrl"], event_types=tuple(data["eventTypes"]),
            delivery_mode=data["deliveryMode"], group_id=data["groupId"],
            min_interval_seconds=data["minIntervalSeconds"], ttl_seconds=data["ttlSeconds"],
            created_ms=data["createdMs"], created_by=data["createdBy"], expires_ms=expires_ms,
        )  # fmt: skip


def _call(script: str, keys: SubscriptionKeys, now_ms: int, *args: Any) -> tuple:
    return ("EVAL", script, 2, keys.records, keys.expiry, str(now_ms), *(str(a) for a in args))


async def subscribe(link: Any, keys: SubscriptionKeys, sub: WorkerSubscription, *, now_ms: int) -> None:
    """Store ``sub`` until its ``expires_ms``; raises Conflict when the tenant has the most allowed."""
    reply = await link.execute(_call(_SUBSCRIBE, keys, now_ms, sub.id, sub.record().decode(), sub.expires_ms,
                                     MAX_PER_TENANT))  # fmt: skip
    if reply == -1:
        raise Conflict(f"a tenant has at most {MAX_PER_TENANT} live worker subscriptions")


async def extend(link: Any, keys: SubscriptionKeys, subscription_id: str, *, ttl_seconds: int, now_ms: int) -> int:
    """Move a live subscription's expiry to ``now + ttl_seconds`` (0: its own TTL); returns the new
    expiry ms. Raises NotFound for an unknown or lapsed id."""
    expires = await link.execute(_call(_EXTEND, keys, now_ms, subscription_id, ttl_seconds * 1000))
    if expires == -1:
        raise NotFound("subscription not found")
    return int(expires)


async def remove(link: Any, keys: SubscriptionKeys, subscription_id: str, *, now_ms: int) -> None:
    """Drop a subscription now; raises NotFound for an unknown or lapsed id."""
    if not await link.execute(_call(_REMOVE, keys, now_ms, subscription_id)):
        raise NotFound("subscription not found")


async def live(link: Any, keys: SubscriptionKeys, *, now_ms: int) -> list[WorkerSubscription]:
    """Every subscription of the tenant that has not lapsed at ``now_ms``, by id."""
    return _decode_live(await link.execute(_live_call(keys, now_ms)))


def remove_now(link: Any, keys: SubscriptionKeys, subscription_id: str, *, now_ms: int) -> bool:
    """``remove`` over a sync link (the console): False for an unknown or lapsed id; StoreUnavailable when
    the store does not answer."""
    try:
        return bool(link.execute(_call(_REMOVE, keys, now_ms, subscription_id)))
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc


def live_now(link: Any, keys: SubscriptionKeys, *, now_ms: int) -> list[WorkerSubscription]:
    """``live`` over a sync link (the console's page); StoreUnavailable when the store does not answer."""
    try:
        flat = link.execute(_live_call(keys, now_ms))
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc
    return _decode_live(flat)


def _live_call(keys: SubscriptionKeys, now_ms: int) -> tuple:
    return ("EVAL", _LIVE, 2, keys.records, keys.expiry, str(now_ms))


def _decode_live(flat: list) -> list[WorkerSubscription]:
    subs = [WorkerSubscription.from_record(flat[i + 1], int(float(flat[i]))) for i in range(0, len(flat), 2)]
    return sorted(subs, key=lambda s: s.id)


async def take_interval(link: Any, keys: SubscriptionKeys, receiver: str, interval_seconds: int) -> bool:
    """True if ``receiver`` may be woken now, which starts its minimum interval (shared by every
    listener process); False while an earlier wake-up's interval runs."""
    return bool(await link.execute(("SET", keys.sent(receiver), "1", "NX", "PX", str(interval_seconds * 1000))))


async def pick_in_group(link: Any, keys: SubscriptionKeys, command: str,
                        members: list[WorkerSubscription]) -> WorkerSubscription | None:  # fmt: skip
    """The next member of one delivery group, round-robin, to wake for ``command`` (members share a
    ``group_id`` and come in a stable order), with its interval taken; None if none may be woken."""
    digest = hashlib.sha256(f"{command}\n{members[0].group_id}".encode()).hexdigest()[:32]
    index = await link.execute((
        "EVAL", _PICK_IN_GROUP, 2 + len(members), keys.rotation, keys.gate(digest),
        *(keys.sent(m.id) for m in members), digest, str(GROUP_GATE_MS),
        *(str(m.min_interval_seconds * 1000) for m in members),
    ))  # fmt: skip
    return None if index == -1 else members[index]
