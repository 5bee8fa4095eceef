"""Key names, hash tags and shard choice: the only place keys are built.

Every key of a tenant's shard carries the hash tag ``{t:<tenant>:<shard>}``, so one script only
ever touches one hash slot and the engine runs unchanged on Redis Cluster / KVRocks cluster. Keys
are built from the validated tenant slug, the shard number and validated (lowercased) command
names in their routing form (``command_key``); request input never becomes a key on its own.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SHARD_KEYS = ("tasks", "results", "leases", "delayed", "done", "stats", "cmds", "idem", "dedup", "outbox", "ring",
              "ringset")  # fmt: skip
PRIORITIES = range(10)


def command_key(command: str) -> str:
    """The routing form of a command name, the one form that names its queues, counters, dedup
    entries and wake-ups, so ``Media.Resize`` and ``MEDIA.RESIZE`` are one queue.

    NFKC, Unicode case folding, NFKC again: compatibility variants (full-width letters, ligatures)
    and every case variant (sharp s and SS, the three Greek sigmas, dotted capital I) meet in one
    form, and a second pass changes nothing. An ASCII name maps to its ASCII lowercase, as it always
    has. Computed here only: the scripts receive it (and store it in the task's record) and never
    lowercase a name themselves.
    """
    if command.isascii():
        return command.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", command).casefold())


def fnv1a_32(text: str) -> int:
    """FNV-1a (32 bit) of the UTF-8 bytes: the shard function of task ids and routing keys."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


class Keyspace:
    """The keys of one tenant, spread over ``shards`` hash slots."""

    __slots__ = ("_blocks", "_shard_keys", "prefix", "shards", "tenant", "wake_channel")

    def __init__(self, prefix: str, tenant: str, shards: int = 1) -> None:
        self.prefix = prefix
        self.tenant = tenant
        self.shards = shards
        self.wake_channel = f"{prefix}:wake:{tenant}"
        self._shard_keys = [[f"{prefix}:{{t:{tenant}:{s}}}:{name}" for name in SHARD_KEYS] for s in range(shards)]
        self._blocks: dict[tuple[int, str], list[str]] = {}

    def shard_of(self, routing_key: str) -> int:
        return 0 if self.shards == 1 else fnv1a_32(routing_key) % self.shards

    def shard_keys(self, shard: int) -> list[str]:
        """The per-shard keys, in the order every script expects them (see lib.lua)."""
        return self._shard_keys[shard]

    def key(self, shard: int, name: str) -> str:
        return self._shard_keys[shard][SHARD_KEYS.index(name)]

    def command_block(self, shard: int, command: str) -> list[str]:
        """Ready lists for priorities 0..9 and the DLQ of one command (its routing form) in one shard."""
        block = self._blocks.get((shard, command))
        if block is None:
            tag = f"{self.prefix}:{{t:{self.tenant}:{shard}}}"
            block = [f"{tag}:q:{command}:{p}" for p in PRIORITIES] + [f"{tag}:dlq:{command}"]
            if len(self._blocks) < 4096:
                self._blocks[(shard, command)] = block
        return block

    def ready_key(self, shard: int, command: str, priority: int) -> str:
        return self.command_block(shard, command)[priority]

    def dlq_key(self, shard: int, command: str) -> str:
        return self.command_block(shard, command)[10]


def rate_key(prefix: str, tenant: str, second: int) -> str:
    """The request counter of one tenant for one second (the API's rate limit)."""
    return f"{prefix}:rl:{{t:{tenant}:0}}:{second}"


USAGE_NAMES = ("created", "completed", "failed", "dead", "bytes", "requests")
DAY_MS = 86_400_000


def usage_field(day: int, name: str) -> str:
    """The counters-hash field of one usage figure for UTC day number ``day`` (days since 1970-01-01).

    The scripts count tasks created, completed, failed, dead-lettered and payload bytes accepted there;
    the platform counts API requests into shard 0's. A command never contains '/', so these fields
    never meet a command's own counters.
    """
    return f"/u/{day}/{name}"


def traffic_key(prefix: str, tenant: str, hour: int) -> str:
    """One tenant's API requests and 429s per minute of one hour (epoch hour ``hour``), in shard 0's slot."""
    return f"{prefix}:{{t:{tenant}:0}}:traffic:{hour}"


def rollup_key(prefix: str, tenant: str, resolution: str, bucket: int) -> str:
    """One bucket of a tenant's metric rollups (resolution ``m``, ``t`` or ``h``, bucket = epoch seconds //
    the resolution's length), in shard 0's slot so a flush of the tenant is one pipeline to one slot."""
    return f"{prefix}:{{t:{tenant}:0}}:roll:{resolution}:{bucket}"


def workers_key(prefix: str, tenant: str) -> str:
    """The workers a tenant's web processes saw lately (a hash: one field per worker), in shard 0's slot."""
    return f"{prefix}:{{t:{tenant}:0}}:workers"


def tenant_key_patterns(prefix: str, tenant: str) -> tuple[str, ...]:
    """SCAN MATCH patterns that together cover every key of ``tenant`` and no other tenant's.

    Each pattern is anchored at a key's start: a command name may hold any text, ``{t:...`` too, so a
    pattern open in front could match a neighbour's queue. A slug cannot contain ':', so ``{t:<slug>:``
    never matches a longer slug that starts the same.
    """
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", prefix)
    return tuple(f"{escaped}:{kind}{{t:{tenant}:*" for kind in ("", "rl:", "ws:", "hist:"))


class SubscriptionKeys:
    """The keys of one tenant's worker subscriptions and wake-up bookkeeping (reference §5, §8).

    They share a hash tag of their own (``{t:<tenant>:ws}``), so each subscription script touches one
    slot, and all of them expire by themselves: subscriptions are ephemeral, not control-plane rows.
    Only server-made ids and digests go into a key, never a caller's text.
    """

    __slots__ = ("expiry", "records", "rotation", "tag")

    def __init__(self, prefix: str, tenant: str) -> None:
        self.tag = f"{prefix}:ws:{{t:{tenant}:ws}}"
        self.records = f"{self.tag}:subs"
        self.expiry = f"{self.tag}:expiry"
        self.rotation = f"{self.tag}:rr"

    def sent(self, receiver: str) -> str:
        """Set while ``receiver`` (a subscription id) is inside its minimum interval."""
        return f"{self.tag}:sent:{receiver}"

    def gate(self, digest: str) -> str:
        """Set while one delivery group has just been woken (``digest`` names the command and group)."""
        return f"{self.tag}:gate:{digest}"


@lru_cache(maxsize=1024)
def keyspace(prefix: str, tenant: str, shards: int) -> Keyspace:
    """A cached Keyspace; the tenant slug must already be valid."""
    return Keyspace(prefix, tenant, shards)
