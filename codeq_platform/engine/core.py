"""The engine's one core, shared by the sync and asyncio faces.

Each operation is a *plan*: a generator that validates its input, yields the store calls it needs
and turns the replies into dataclasses. ``Engine`` and ``AsyncEngine`` only differ in how they run
a yielded call. A call is a tuple: ``("script", name, keys, args)``, ``("cmd", args)`` or
``("pipe", [args, ...])`` (several read commands in one round trip).
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from codeq_platform.engine import errors as codes
from codeq_platform.engine import jsontext
from codeq_platform.engine.keys import TENANT_RE, Keyspace, command_key, keyspace
from codeq_platform.engine.model import (
    OUTBOX_BITS,
    STATES,
    Enqueued,
    Moved,
    Nacked,
    NewTask,
    OutboxEvent,
    Page,
    QueueSettings,
    QueueStats,
    Report,
    Settled,
    State,
    SweepReport,
    Task,
    TaskResult,
    decode_outbox_event,
    decode_result,
    decode_task,
    encode_result,
)
from codeq_platform.errors import CodeqError, InvalidInput, NotFound, PayloadTooLarge, TaskNotInDlq

COMMAND_RE = re.compile(r"^[^\s/\x00-\x1f\x7f]{1,200}$")
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$")
MAX_BATCH = 1000
MAX_IN_FLIGHT_CAP = 1_000_000
COMPLETED, FAILED = STATES.index(State.COMPLETED), STATES.index(State.FAILED)  # the records' state codes

R = TypeVar("R")
Call = tuple[Any, ...]
Plan = Generator[Call, Any, R]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Limits and tunables; the engine reads no settings, its owner passes these."""

    prefix: str = "cq"
    shards: int = 1
    max_payload_bytes: int = 1024 * 1024
    default_lease_ms: int = 300_000
    max_lease_ms: int = 43_200_000
    default_max_attempts: int = 5
    max_attempts_limit: int = 1000
    max_delay_ms: int = 365 * 86_400_000
    backoff_base_ms: int = 5_000
    backoff_cap_ms: int = 900_000
    lazy_batch: int = 10
    lazy_interval_ms: int = 50
    stale_skip_limit: int = 1000
    sweep_batch: int = 500


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, field=field)


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"'{field}' must be an integer")
    if not low <= value <= high:
        raise _invalid(field, f"'{field}' must be between {low} and {high}")
    return value


def validate_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise _invalid("tenant", "invalid tenant")
    return tenant


def validate_command(command: Any, field: str = "command") -> str:
    """The routing form (``keys.command_key``) of a valid command: 1-200 characters, no whitespace,
    '/' or control characters, as sent and in its routing form."""
    if not isinstance(command, str) or not COMMAND_RE.match(command):
        raise _invalid(field, "invalid command")
    key = command_key(command)
    if not COMMAND_RE.match(key):
        raise _invalid(field, "invalid command")
    return key


def validate_worker(worker: Any) -> str:
    if not isinstance(worker, str) or not 0 < len(worker) <= 200:
        raise _invalid("workerId", "invalid worker id")
    return worker


def validate_task_id(task_id: Any) -> str:
    if not isinstance(task_id, str) or not TASK_ID_RE.match(task_id):
        raise NotFound("task not found")
    return task_id


class Core:
    """Plans for every engine operation, over one store client's worth of configuration."""

    def __init__(self, config: EngineConfig, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.clock = clock
        self.tenant_shards: dict[str, int] = {}
        self._maintained: dict[tuple[str, int], int] = {}
        self._known_commands: set[tuple[str, int, str]] = set()
        self._key_lists: dict[tuple[Keyspace, int, tuple[str, ...]], list[str]] = {}

    # -- helpers ---------------------------------------------------------------------------------

    def script_now(self) -> int | str:
        """The header's time: '' (the scripts read the store's clock), or a test's clock in ms."""
        return "" if self.clock is None else int(self.clock() * 1000)

    def tick_ms(self) -> int:
        """This process's monotonic milliseconds (a test's clock, if given), for pacing this process
        alone: no time it gives is stored or compared with the store's."""
        return int((self.clock or time.monotonic)() * 1000)

    def ks(self, tenant: str) -> Keyspace:
        shards = self.tenant_shards.get(tenant, self.config.shards)
        return keyspace(self.config.prefix, validate_tenant(tenant), shards)

    def header(self, ks: Keyspace, commands: Iterable[str]) -> list[Any]:
        cmds = list(commands)
        c = self.config
        return [self.script_now(), random.getrandbits(31), c.backoff_base_ms, c.backoff_cap_ms, ks.wake_channel,
                len(cmds), *cmds]  # fmt: skip

    def keys(self, ks: Keyspace, shard: int, commands: Iterable[str]) -> list[str]:
        """The shard's keys and one block per command, as every script expects (cached: a worker
        asks for the same few combinations over and over)."""
        cmds = tuple(commands)
        cache_key = (ks, shard, cmds)
        keys = self._key_lists.get(cache_key)
        if keys is None:
            keys = list(ks.shard_keys(shard))
            for cmd in cmds:
                keys.extend(ks.command_block(shard, cmd))
            if len(self._key_lists) > 4096:
                self._key_lists.clear()
            self._key_lists[cache_key] = keys
        return keys

    def lazy_batch(self, tenant: str, shard: int) -> int:
        """How many expired leases / due tasks a claim repairs first: a bounded batch, at most once
        per ``lazy_interval_ms`` per shard and process (the scheduler's sweep covers the rest), so
        a busy queue does not pay two set reads on every claim."""
        now = self.tick_ms()
        last = self._maintained.get((tenant, shard), 0)
        if now - last < self.config.lazy_interval_ms and now >= last:
            return 0
        self._maintained[(tenant, shard)] = now
        return self.config.lazy_batch

    def new_command_flags(self, tenant: str, shard: int, cmds: Iterable[str]) -> str:
        """'1' for each command this process has not yet seen added to the shard's known set."""
        return "".join("0" if (tenant, shard, c) in self._known_commands else "1" for c in cmds)

    def remember_commands(self, tenant: str, shard: int, cmds: Iterable[str]) -> None:
        if len(self._known_commands) > 100_000:
            self._known_commands.clear()
        self._known_commands.update((tenant, shard, c) for c in cmds)

    def lease_ms(self, lease_ms: int | None) -> int:
        if lease_ms is None:
            return self.config.default_lease_ms
        return _int(lease_ms, "leaseSeconds", 1000, self.config.max_lease_ms)

    def _decode_claimed(self, tenant: str, flat: list[Any], start: int = 0) -> list[Task]:
        return [decode_task(tenant, flat[i].decode(), flat[i + 1]) for i in range(start, len(flat), 2)]

    def _record(self, ks: Keyspace, task_id: str) -> Plan[tuple[int, Task]]:
        """Read a task's record (the first phase of by-id operations that need its command)."""
        task_id = validate_task_id(task_id)
        shard = ks.shard_of(task_id)
        raw = yield ("cmd", ("HGET", ks.key(shard, "tasks"), task_id))
        if raw is None:
            raise NotFound("task not found")
        return shard, decode_task(ks.tenant, task_id, raw)

    # -- enqueue ---------------------------------------------------------------------------------

    def _prepare(self, ks: Keyspace, spec: NewTask, payload_limit: int | None) -> tuple[int, list[Any], str]:
        c = self.config
        cmd = validate_command(spec.command)
        payload = self._payload(spec.payload, payload_limit)
        priority = _int(spec.priority, "priority", 0, 9)
        max_attempts = spec.max_attempts or c.default_max_attempts
        _int(max_attempts, "maxAttempts", 1, c.max_attempts_limit)
        run_at = delay = 0
        if spec.run_at_ms is not None:
            # A bound on input only: this host's clock is near enough for a limit of a year. The due
            # time of a delay is taken from the store's clock by the script.
            horizon = int((self.clock or time.time)() * 1000) + c.max_delay_ms
            run_at = _int(spec.run_at_ms, "runAt", 0, horizon)
        elif spec.delay_ms:
            delay = _int(spec.delay_ms, "delaySeconds", 0, c.max_delay_ms)
        keys_given = [k for k in (spec.idempotency_key, spec.dedup_key, spec.task_id) if k]
        if len(keys_given) > 1:
            raise _invalid("idempotencyKey", "idempotencyKey, deduplicationKey and taskId are exclusive")
        for name, value in (("idempotencyKey", spec.idempotency_key), ("deduplicationKey", spec.dedup_key)):
            if not isinstance(value, str) or "\x00" in value or len(value) > 256:
                raise _invalid(name, f"invalid {name}")
        if not isinstance(spec.webhook, str) or len(spec.webhook) > 2048:
            raise _invalid("webhook", "invalid webhook url")
        if (
            not isinstance(spec.tags, list)
            or len(spec.tags) > 32
            or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in spec.tags)
        ):
            raise _invalid("tags", "tags must be a list of at most 32 strings of 1-64 characters")
        if spec.task_id:
            if not isinstance(spec.task_id, str) or not TASK_ID_RE.match(spec.task_id):
                raise _invalid("taskId", "invalid taskId")
            task_id, shard = spec.task_id, ks.shard_of(spec.task_id)
        else:
            routing = ""
            if spec.idempotency_key:
                routing = "i:" + spec.idempotency_key
            elif spec.dedup_key:
                routing = f"d:{cmd}\n{spec.dedup_key}"
            task_id = str(uuid.uuid4())
            shard = ks.shard_of(routing or task_id)
            while routing and ks.shards > 1 and ks.shard_of(task_id) != shard:
                task_id = str(uuid.uuid4())
        fields = [task_id, cmd, spec.command, payload, priority, max_attempts, run_at,
                  spec.idempotency_key, spec.dedup_key, spec.webhook,
                  orjson.dumps(spec.tags) if spec.tags else "", delay]  # fmt: skip
        return shard, fields, task_id

    def _payload(self, value: Any, payload_limit: int | None) -> bytes:
        """A payload's stored JSON text, within the smaller of ``payload_limit`` and the engine's limit."""
        limit = min(payload_limit or self.config.max_payload_bytes, self.config.max_payload_bytes)
        if value is None:
            raise _invalid("payload", "payload is required")
        try:
            payload = jsontext.dumps_value(value)
        except (TypeError, ValueError) as exc:
            raise _invalid("payload", "payload must be JSON") from exc
        if len(payload) > limit:
            raise PayloadTooLarge(f"payload exceeds {limit} bytes", field="payload")
        return payload

    def enqueue_batch(self, tenant: str, specs: list[NewTask], max_live: int = 0,
                      payload_limit: int | None = None) -> Plan[list[Enqueued | CodeqError]]:  # fmt: skip
        """Enqueue many tasks: one script call per shard. Items that fail validation come back as
        errors in their place; nothing is written for them."""
        ks = self.ks(tenant)
        if not 1 <= len(specs) <= MAX_BATCH:
            raise _invalid("tasks", f"a batch holds 1 to {MAX_BATCH} tasks")
        out: dict[int, Enqueued | CodeqError] = {}
        by_shard: dict[int, list[tuple[int, list[Any]]]] = {}
        for i, spec in enumerate(specs):
            try:
                shard, fields, _ = self._prepare(ks, spec, payload_limit)
            except InvalidInput as exc:
                out[i] = exc
                continue
            by_shard.setdefault(shard, []).append((i, fields))
        calls: list[Call] = []
        owners = []
        for shard, items in by_shard.items():
            cmds: dict[str, int] = {}
            args: list[Any] = []
            for _, f in items:
                ci = cmds.setdefault(f[1], len(cmds) + 1)
                args.extend((f[0], ci, *f[2:]))
            calls.append(("script", "enqueue", self.keys(ks, shard, cmds),
                          [*self.header(ks, cmds), max_live, len(items),
                           self.new_command_flags(tenant, shard, cmds), *args]))  # fmt: skip
            owners.append((shard, cmds, items))
        if calls:
            replies = yield ("many", calls) if len(calls) > 1 else calls[0]
            for (shard, cmds, items), reply in zip(owners, replies if len(calls) > 1 else [replies], strict=True):
                self.remember_commands(tenant, shard, cmds)
                for (i, _), (code, tid, raw) in zip(items, reply, strict=True):
                    out[i] = codes.error_for(code) if code < 0 else Enqueued(decode_task(tenant, tid.decode(), raw),
                                                                             created=code == 1)  # fmt: skip
        return [out[i] for i in range(len(specs))]

    def enqueue(
        self, tenant: str, spec: NewTask, max_live: int = 0, payload_limit: int | None = None
    ) -> Plan[Enqueued]:
        """Enqueue one task; ``max_live`` caps the shard's unfinished tasks, ``payload_limit`` the
        payload (both 0/None: the engine's own limits)."""
        ks = self.ks(tenant)
        shard, fields, _ = self._prepare(ks, spec, payload_limit)
        cmd = fields[1]
        reply = yield ("script", "enqueue", self.keys(ks, shard, (cmd,)),
                       [*self.header(ks, (cmd,)), max_live, 1, self.new_command_flags(tenant, shard, (cmd,)),
                        fields[0], 1, *fields[2:]])  # fmt: skip
        self.remember_commands(tenant, shard, (cmd,))
        code, tid, raw = reply[0]
        if code < 0:
            raise codes.error_for(code)
        return Enqueued(decode_task(tenant, tid.decode(), raw), created=code == 1)

    # -- the lease holder's operations -----------------------------------------------------------

    def claim(self, tenant: str, worker: str, commands: list[str] | None, lease_ms: int | None = None,
              count: int = 1) -> Plan[list[Task]]:  # fmt: skip
        """Lease up to ``count`` tasks, highest priority first; [] when nothing is ready. ``None``:
        from whichever commands have ready work, taking turns (the shard's turn ring, claim.lua)."""
        ks = self.ks(tenant)
        worker = validate_worker(worker)
        lease = self.lease_ms(lease_ms)
        _int(count, "count", 1, MAX_BATCH)
        cmds: list[str] = []
        if commands is not None:
            if not isinstance(commands, list) or not commands:
                raise _invalid("commands", "commands must be a non-empty list")
            cmds = list(dict.fromkeys(validate_command(c, "commands") for c in commands))
            if len(cmds) > 100:
                raise _invalid("commands", "at most 100 commands per claim")
        c = self.config
        got: list[Task] = []
        start = random.randrange(ks.shards) if ks.shards > 1 else 0
        for step in range(ks.shards):
            shard = (start + step) % ks.shards
            if commands is None:
                cmds = list(
                    dict.fromkeys(m.decode() for m in (yield ("cmd", ("LRANGE", ks.key(shard, "ring"), 0, 99))))
                )
                if not cmds:
                    continue
            flat = yield ("script", "claim", self.keys(ks, shard, cmds),
                          [*self.header(ks, cmds), worker, lease, count - len(got),
                           self.lazy_batch(tenant, shard), c.stale_skip_limit,
                           1 if commands is None else 0])  # fmt: skip
            got.extend(self._decode_claimed(tenant, flat))
            if len(got) >= count:
                break
        return got

    def heartbeat(self, tenant: str, task_id: str, worker: str, lease_ms: int | None = None) -> Plan[Task]:
        """Extend the caller's lease to now + ``lease_ms``; returns the task."""
        ks = self.ks(tenant)
        task_id = validate_task_id(task_id)
        worker = validate_worker(worker)
        lease = self.lease_ms(lease_ms)
        shard = ks.shard_of(task_id)
        reply = yield ("script", "heartbeat", ks.shard_keys(shard),
                       [*self.header(ks, ()), task_id, worker, lease])  # fmt: skip
        if reply[0] < 0:
            raise codes.error_for(reply[0])
        return decode_task(tenant, task_id, reply[1])

    def _settle(self, tenant: str, task_id: str, worker: str, *, completed: bool, result: Any = None,
               error: str = "", artifacts: Any = None, next_commands: list[str] | None = None,
               next_count: int = 1, next_lease_ms: int | None = None) -> Plan[Settled]:  # fmt: skip
        """Store a final COMPLETED/FAILED result; with ``next_commands``, claim the next tasks (of
        the same shard) in the same call."""
        ks = self.ks(tenant)
        task_id = validate_task_id(task_id)
        worker = validate_worker(worker)
        blob = self._result_blob(completed, result, error, artifacts)
        cmds = list(dict.fromkeys(validate_command(c, "commands") for c in next_commands or ()))
        want = _int(next_count, "count", 1, MAX_BATCH) if cmds else 0
        lease = self.lease_ms(next_lease_ms)
        shard = ks.shard_of(task_id)
        c = self.config
        reply = yield ("script", "complete" if completed else "fail", self.keys(ks, shard, cmds),
                       [*self.header(ks, cmds), self.lazy_batch(tenant, shard) if want else 0, c.stale_skip_limit,
                        task_id, worker, COMPLETED if completed else FAILED, blob, error, lease, want])  # fmt: skip
        if reply[0] < 0:
            raise codes.error_for(reply[0])
        return Settled(tenant, task_id, reply[1], self._decode_claimed(tenant, reply, 2), repeated=reply[0] == 2)

    def complete(self, tenant: str, task_id: str, worker: str, result: Any, *, error: str = "",
                 artifacts: Any = None, next_commands: list[str] | None = None, next_count: int = 1,
                 next_lease_ms: int | None = None) -> Plan[Settled]:  # fmt: skip
        """Store a COMPLETED result (any JSON); ``next_commands=[...]`` claims the next tasks too."""
        return (yield from self._settle(tenant, task_id, worker, completed=True, result=result, error=error,
                                       artifacts=artifacts, next_commands=next_commands, next_count=next_count,
                                       next_lease_ms=next_lease_ms))  # fmt: skip

    def fail(self, tenant: str, task_id: str, worker: str, error: str, *, result: Any = None,
             artifacts: Any = None, next_commands: list[str] | None = None, next_count: int = 1,
             next_lease_ms: int | None = None) -> Plan[Settled]:  # fmt: skip
        """Store a final FAILED result: never retried, never dead-lettered."""
        return (yield from self._settle(tenant, task_id, worker, completed=False, result=result, error=error,
                                       artifacts=artifacts, next_commands=next_commands, next_count=next_count,
                                       next_lease_ms=next_lease_ms))  # fmt: skip

    def _result_blob(self, completed: bool, result: Any, error: Any, artifacts: Any) -> bytes:
        if not isinstance(error, str):
            raise _invalid("error", "error must be a string")
        try:
            result_json = jsontext.dumps_value(result).decode() if result is not None else ""
        except (TypeError, ValueError) as exc:
            raise _invalid("result", "result must be JSON") from exc
        artifacts_json = jsontext.dumps(artifacts).decode() if artifacts else ""
        blob = encode_result("COMPLETED" if completed else "FAILED", result_json, error, artifacts_json)
        if len(blob) > self.config.max_payload_bytes:
            raise PayloadTooLarge(f"result exceeds {self.config.max_payload_bytes} bytes", field="result")
        return blob

    def settle_batch(self, tenant: str, worker: str, reports: list[Report]) -> Plan[list[Settled | CodeqError]]:
        """Store many final results in one script call per shard; each answer is a Settled or the
        error for that report, in order."""
        ks = self.ks(tenant)
        worker = validate_worker(worker)
        if not 1 <= len(reports) <= MAX_BATCH:
            raise _invalid("results", f"a batch holds 1 to {MAX_BATCH} results")
        out: dict[int, Settled | CodeqError] = {}
        by_shard: dict[int, list[tuple[int, list[Any]]]] = {}
        for i, report in enumerate(reports):
            try:
                task_id = validate_task_id(report.task_id)
                blob = self._result_blob(report.completed, report.result, report.error, report.artifacts)
            except CodeqError as exc:
                out[i] = exc
                continue
            state = COMPLETED if report.completed else FAILED
            by_shard.setdefault(ks.shard_of(task_id), []).append((i, [task_id, worker, state, blob, report.error,
                                                                      0, 0]))  # fmt: skip
        calls: list[Call] = []
        owners = []
        for shard, items in by_shard.items():
            args = [value for _, fields in items for value in fields]
            calls.append(("script", "settle_batch", ks.shard_keys(shard),
                          [*self.header(ks, ()), len(items), 0, self.config.stale_skip_limit, *args]))  # fmt: skip
            owners.append(items)
        if calls:
            replies = yield ("many", calls) if len(calls) > 1 else calls[0]
            for items, reply in zip(owners, replies if len(calls) > 1 else [replies], strict=True):
                for (i, fields), (code, raw, *_) in zip(items, reply, strict=True):
                    out[i] = codes.error_for(code) if code < 0 else Settled(tenant, fields[0], raw, [],
                                                                            repeated=code == 2)  # fmt: skip
        return [out[i] for i in range(len(reports))]

    def nack(self, tenant: str, task_id: str, worker: str, delay_ms: int | None = None,
             reason: str = "") -> Plan[Nacked]:  # fmt: skip
        """Give the task back to be retried after ``delay_ms`` (None: backoff with full jitter);
        past its attempts it goes to the DLQ."""
        ks = self.ks(tenant)
        worker = validate_worker(worker)
        if delay_ms is not None:
            delay_ms = _int(delay_ms, "delaySeconds", 0, self.config.max_delay_ms)
        if not isinstance(reason, str) or len(reason) > 4096:
            raise _invalid("reason", "reason must be a string of at most 4096 characters")
        shard, task = yield from self._record(ks, task_id)
        cmd = task.command_key
        reply = yield ("script", "nack", self.keys(ks, shard, (cmd,)),
                       [*self.header(ks, (cmd,)), task.id, worker,
                        -1 if delay_ms is None else delay_ms, reason])  # fmt: skip
        if len(reply) == 1:
            raise codes.error_for(reply[0])
        dead = reply[0] < 0
        return Nacked(decode_task(tenant, task.id, reply[1]), dead=dead, delay_ms=0 if dead else reply[0])

    def abandon(self, tenant: str, task_id: str, worker: str) -> Plan[Task]:
        """Give the task back now, to the tail of its queue, without charging the attempt."""
        ks = self.ks(tenant)
        worker = validate_worker(worker)
        shard, task = yield from self._record(ks, task_id)
        cmd = task.command_key
        reply = yield ("script", "abandon", self.keys(ks, shard, (cmd,)),
                       [*self.header(ks, (cmd,)), task.id, worker])  # fmt: skip
        if reply[0] < 0:
            raise codes.error_for(reply[0])
        return decode_task(tenant, task.id, reply[1])

    def progress(self, tenant: str, task_id: str, worker: str, progress: Any) -> Plan[None]:
        ks = self.ks(tenant)
        task_id = validate_task_id(task_id)
        worker = validate_worker(worker)
        if progress is None:
            raise _invalid("progress", "progress is required")
        try:
            body = jsontext.dumps_value(progress)
        except (TypeError, ValueError) as exc:
            raise _invalid("progress", "progress must be JSON") from exc
        if len(body) > 64 * 1024:
            raise PayloadTooLarge("progress too large", field="progress")
        shard = ks.shard_of(task_id)
        reply = yield ("script", "progress", ks.shard_keys(shard),
                       [*self.header(ks, ()), task_id, worker, body])  # fmt: skip
        if reply[0] < 0:
            raise codes.error_for(reply[0])

    # -- producer and operator operations --------------------------------------------------------

    def cancel(self, tenant: str, task_id: str) -> Plan[Task]:
        """Withdraw a ready or delayed task; it ends FAILED with error CANCELLED."""
        ks = self.ks(tenant)
        task_id = validate_task_id(task_id)
        shard = ks.shard_of(task_id)
        reply = yield ("script", "cancel", ks.shard_keys(shard),
                       [*self.header(ks, ()), task_id])  # fmt: skip
        if reply[0] < 0:
            raise codes.error_for(reply[0])
        return decode_task(tenant, task_id, reply[1])

    def delete(self, tenant: str, task_id: str) -> Plan[None]:
        """Remove a task that is not leased, with its result and queue entry."""
        ks = self.ks(tenant)
        shard, task = yield from self._record(ks, task_id)
        cmd = task.command_key
        reply = yield ("script", "delete", self.keys(ks, shard, (cmd,)),
                       [*self.header(ks, (cmd,)), "ids", 1, task.id])  # fmt: skip
        if reply[2] < 0:
            raise codes.error_for(reply[2])

    def replay(self, tenant: str, task_id: str) -> Plan[Task]:
        """Move one dead-lettered task back to its ready queue (attempts reset)."""
        ks = self.ks(tenant)
        shard, task = yield from self._record(ks, task_id)
        cmd = task.command_key
        reply = yield ("script", "replay", self.keys(ks, shard, (cmd,)),
                       [*self.header(ks, (cmd,)), "ids", 1, task.id])  # fmt: skip
        if reply[2] < 0:
            raise TaskNotInDlq("task_not_in_dlq") if reply[2] == codes.NOT_IN_DLQ else codes.error_for(reply[2])
        raw = yield ("cmd", ("HGET", ks.key(shard, "tasks"), task.id))
        return decode_task(tenant, task.id, raw)

    def replay_edited(self, tenant: str, task_id: str, payload: Any, payload_limit: int | None = None) -> Plan[Task]:
        """Replay one dead-lettered task with ``payload`` in place of its own, in one script (replay.lua's
        ``edit``): the new payload is checked as an enqueue checks one (JSON, at most ``payload_limit``
        bytes) and is written only if the task is still dead."""
        ks = self.ks(tenant)
        shard, task = yield from self._record(ks, task_id)
        text = self._payload(payload, payload_limit)
        cmd = task.command_key
        reply = yield ("script", "replay", self.keys(ks, shard, (cmd,)),
                       [*self.header(ks, (cmd,)), "edit", task.id, text])  # fmt: skip
        if reply[2] < 0:
            raise TaskNotInDlq("task_not_in_dlq") if reply[2] == codes.NOT_IN_DLQ else codes.error_for(reply[2])
        raw = yield ("cmd", ("HGET", ks.key(shard, "tasks"), task.id))
        return decode_task(tenant, task.id, raw)

    def _dlq_bulk(self, script: str, tenant: str, command: str, limit: int, ids: list[str] | None) -> Plan[Moved]:
        ks = self.ks(tenant)
        cmd = validate_command(command)
        moved, remaining = 0, False
        if ids is not None:
            ids = [validate_task_id(i) for i in ids]
            groups: dict[int, list[str]] = {}
            for tid in ids:
                groups.setdefault(ks.shard_of(tid), []).append(tid)
            for shard, group in groups.items():
                reply = yield ("script", script, self.keys(ks, shard, (cmd,)),
                               [*self.header(ks, (cmd,)), "ids", len(group), *group])  # fmt: skip
                moved += reply[0]
            return Moved(moved, False)
        _int(limit, "limit", 1, MAX_BATCH)
        for shard in range(ks.shards):
            if moved >= limit:
                remaining = True
                break
            mode = "oldest" if script == "replay" else "dlq"
            reply = yield ("script", script, self.keys(ks, shard, (cmd,)),
                           [*self.header(ks, (cmd,)), mode, limit - moved])  # fmt: skip
            moved += reply[0]
            remaining = remaining or reply[1] > 0
        return Moved(moved, remaining)

    def replay_many(self, tenant: str, command: str, task_ids: list[str]) -> Plan[Moved]:
        """Replay the named dead-lettered tasks of one command; others are left alone."""
        return (yield from self._dlq_bulk("replay", tenant, command, 0, task_ids))

    def replay_all(self, tenant: str, command: str, limit: int = 100) -> Plan[Moved]:
        """Replay up to ``limit`` dead-lettered tasks of a command, oldest death first."""
        return (yield from self._dlq_bulk("replay", tenant, command, limit, None))

    def delete_many(self, tenant: str, command: str, task_ids: list[str]) -> Plan[Moved]:
        return (yield from self._dlq_bulk("delete", tenant, command, 0, task_ids))

    def purge_dlq(self, tenant: str, command: str, limit: int = 1000) -> Plan[Moved]:
        """Delete up to ``limit`` dead-lettered tasks of a command, oldest first."""
        return (yield from self._dlq_bulk("delete", tenant, command, limit, None))

    def _per_id(self, script: str, tenant: str, command: str, task_ids: list[str], actor: str) -> Plan[Moved]:
        """Run an operator's by-id script over tasks of one command, one call per shard."""
        ks = self.ks(tenant)
        cmd = validate_command(command)
        if not isinstance(actor, str) or not 0 < len(actor) <= 200:
            raise _invalid("actor", "invalid actor")
        if len(task_ids) > MAX_BATCH:
            raise _invalid("task_ids", f"at most {MAX_BATCH} tasks at a time")
        groups: dict[int, list[str]] = {}
        for tid in dict.fromkeys(validate_task_id(i) for i in task_ids):
            groups.setdefault(ks.shard_of(tid), []).append(tid)
        moved = 0
        for shard, group in groups.items():
            reply = yield ("script", script, self.keys(ks, shard, (cmd,)),
                           [*self.header(ks, (cmd,)), actor, len(group), *group])  # fmt: skip
            moved += reply[0]
        return Moved(moved, False)

    def release(self, tenant: str, command: str, task_ids: list[str], actor: str) -> Plan[Moved]:
        """An operator takes the named leased tasks of ``command`` back: ready now, the attempt refunded
        (``abandon`` on the holder's behalf). Tasks not leased are left alone."""
        return (yield from self._per_id("release", tenant, command, task_ids, actor))

    def run_now(self, tenant: str, command: str, task_ids: list[str], actor: str) -> Plan[Moved]:
        """Make the named delayed tasks of ``command`` ready now: scheduled ones run early, ones backing
        off after a failure are retried without waiting. Tasks not delayed are left alone."""
        return (yield from self._per_id("run_now", tenant, command, task_ids, actor))

    def cancel_many(self, tenant: str, task_ids: list[str]) -> Plan[Moved]:
        """``cancel`` for many tasks in one round trip; tasks leased, finished or gone are left alone."""
        ks = self.ks(tenant)
        if len(task_ids) > MAX_BATCH:
            raise _invalid("task_ids", f"at most {MAX_BATCH} tasks at a time")
        calls: list[Call] = [("script", "cancel", ks.shard_keys(ks.shard_of(tid)), [*self.header(ks, ()), tid])
                             for tid in dict.fromkeys(validate_task_id(i) for i in task_ids)]  # fmt: skip
        if not calls:
            return Moved(0, False)
        replies = yield ("many", calls) if len(calls) > 1 else calls[0]
        return Moved(sum(1 for reply in (replies if len(calls) > 1 else [replies]) if reply[0] == 1), False)

    # -- a command's settings --------------------------------------------------------------------

    def _configure(self, tenant: str, command: str, paused: str, cap: int | None) -> Plan[QueueSettings]:
        """Write a command's settings in every shard of the tenant (``paused`` '1', '0' or '' to keep;
        ``cap`` the whole cap, 0 for none, None to keep), each shard holding an equal share of the cap."""
        ks = self.ks(tenant)
        cmd = validate_command(command)
        paused_now = False
        total = 0
        for shard in range(ks.shards):
            share: int | str = ""
            if cap is not None:
                share = cap // ks.shards + (1 if shard < cap % ks.shards else 0)
            reply = yield ("script", "configure", self.keys(ks, shard, (cmd,)),
                           [*self.header(ks, (cmd,)), paused, share])  # fmt: skip
            paused_now = paused_now or reply[0] == 1
            total += reply[1]
        return QueueSettings(cmd, paused_now, total or None)

    def pause_queue(self, tenant: str, command: str) -> Plan[QueueSettings]:
        """Pause a command: claims of any kind skip it until it is resumed; enqueues are still taken."""
        return (yield from self._configure(tenant, command, "1", None))

    def resume_queue(self, tenant: str, command: str) -> Plan[QueueSettings]:
        """Resume a paused command; its waiting claims are woken."""
        return (yield from self._configure(tenant, command, "0", None))

    def limit_queue(self, tenant: str, command: str, max_in_flight: int | None) -> Plan[QueueSettings]:
        """Cap a command's tasks in flight (leased, not yet settled or given back) at ``max_in_flight``,
        at least the tenant's shard count; None lifts the cap. Tasks already in flight stay leased."""
        if max_in_flight is not None:
            _int(max_in_flight, "maxInFlight", self.ks(tenant).shards, MAX_IN_FLIGHT_CAP)
        return (yield from self._configure(tenant, command, "", max_in_flight or 0))

    # -- maintenance -----------------------------------------------------------------------------

    def sweep(self, tenant: str, shards: Iterable[int] | None = None) -> Plan[SweepReport]:
        """Expire leases and promote due delayed tasks, a bounded batch per shard (of ``shards``: all)."""
        ks = self.ks(tenant)
        report = SweepReport()
        batch = self.config.sweep_batch
        for shard in range(ks.shards) if shards is None else shards:
            leases, delayed = yield ("script", "due", ks.shard_keys(shard), [*self.header(ks, ()), batch])
            ids = [i.decode() for i in leases + delayed]
            if not ids:
                continue
            raws = yield ("cmd", ("HMGET", ks.key(shard, "tasks"), *ids))
            groups: dict[str, tuple[list[str], list[str]]] = {}
            n_leases = len(leases)
            for pos, (tid, raw) in enumerate(zip(ids, raws, strict=True)):
                cmd = decode_task(tenant, tid, raw).command_key if raw else ""
                groups.setdefault(cmd, ([], []))[0 if pos < n_leases else 1].append(tid)
            for cmd, (exp, due) in groups.items():
                cmds = (cmd,) if cmd else ()
                reply = yield ("script", "sweep", self.keys(ks, shard, cmds),
                               [*self.header(ks, cmds), len(exp), *exp, len(due), *due])  # fmt: skip
                report.expired += reply[0]
                report.promoted += reply[1]
        return report

    def trim(self, tenant: str, finished_older_than_ms: int | None = None, dead_older_than_ms: int | None = None,
             limit: int = 1000, forget_older_than_ms: int | None = None,
             as_of_ms: int | None = None) -> Plan[Moved]:  # fmt: skip
        """Retention: remove finished tasks and dead-lettered tasks that finished / died longer ago
        than these ages by the store's clock (None: keep them); forget the commands that have nothing
        left and no activity for ``forget_older_than_ms`` (None: keep all). With ``as_of_ms`` the ages
        count back from that moment instead of the store's now (a moment a caller names)."""
        ks = self.ks(tenant)
        _int(limit, "limit", 1, 10_000)
        as_of = "" if as_of_ms is None else str(_int(as_of_ms, "as_of_ms", 0, 2**53))
        finished_age = -1 if finished_older_than_ms is None else _int(finished_older_than_ms, "age", 0, 2**53)
        dead_age = -1 if dead_older_than_ms is None else _int(dead_older_than_ms, "age", 0, 2**53)
        forget_age = -1 if forget_older_than_ms is None else _int(forget_older_than_ms, "age", 0, 2**53)
        done = dead = 0
        more = False
        for shard in range(ks.shards):
            cmds: list[str] = []
            if dead_age >= 0 or forget_age >= 0:
                cmds = sorted(m.decode() for m in (yield ("cmd", ("SMEMBERS", ks.key(shard, "cmds")))))
            for start in range(0, max(len(cmds), 1), 50):
                chunk = cmds[start : start + 50]
                reply = yield ("script", "trim", self.keys(ks, shard, chunk),
                               [*self.header(ks, chunk),
                                finished_age if start == 0 else -1, dead_age, limit, forget_age,
                                as_of])  # fmt: skip
                done += reply[0]
                dead += reply[1]
                more = more or reply[2] == 1
        return Moved(done + dead, more)

    # -- outbox ----------------------------------------------------------------------------------

    def watch_events(self, tenant: str, kinds: Iterable[str]) -> Plan[None]:
        """Record ``tenant``'s terminal events of these kinds (``completed``, ``failed``, ``dead``) in
        its outboxes whether or not the task has a webhook; tasks with one are always recorded. An
        empty ``kinds`` leaves only those."""
        ks = self.ks(tenant)
        kinds = set(kinds)
        if not kinds <= OUTBOX_BITS.keys():
            raise _invalid("events", f"events are among {', '.join(OUTBOX_BITS)}")
        bits = sum(OUTBOX_BITS[k] for k in kinds)
        yield ("pipe", [("HSET", ks.key(shard, "stats"), "hooks", bits) for shard in range(ks.shards)])

    def outbox(self, tenants: list[str], limit: int = 500) -> Plan[list[OutboxEvent]]:
        """The oldest ``limit`` unacknowledged events of each shard of each tenant, in one round trip."""
        _int(limit, "limit", 1, 10_000)
        where = [(self.ks(tenant), shard) for tenant in tenants for shard in range(self.ks(tenant).shards)]
        if not where:
            return []
        replies = yield ("pipe", [("LRANGE", ks.key(shard, "outbox"), 0, limit - 1) for ks, shard in where])
        return [decode_outbox_event(ks.tenant, shard, raw)
                for (ks, shard), raws in zip(where, replies, strict=True) for raw in raws]  # fmt: skip

    def outbox_ack(self, tenant: str, shard: int, events: list[OutboxEvent]) -> Plan[int]:
        """Acknowledge ``events``, the head of one shard's outbox as ``outbox`` read it; returns how
        many were removed (0 when another reader acknowledged them first)."""
        if not events:
            return 0
        ks = self.ks(tenant)
        removed: int = yield ("script", "outbox_ack", ks.shard_keys(shard),
                              [*self.header(ks, ()), len(events), events[-1].raw])  # fmt: skip
        return removed

    # -- read side -------------------------------------------------------------------------------

    def get_task(self, tenant: str, task_id: str) -> Plan[Task]:
        ks = self.ks(tenant)
        _, task = yield from self._record(ks, task_id)
        return task

    def get_result(self, tenant: str, task_id: str) -> Plan[tuple[Task, TaskResult | None]]:
        """The task and its stored result (None while there is none)."""
        ks = self.ks(tenant)
        task_id = validate_task_id(task_id)
        shard = ks.shard_of(task_id)
        raw, res = yield ("pipe", [("HGET", ks.key(shard, "tasks"), task_id),
                                   ("HGET", ks.key(shard, "results"), task_id)])  # fmt: skip
        if raw is None:
            raise NotFound("task not found")
        task = decode_task(tenant, task_id, raw)
        result: TaskResult | None = decode_result(task_id, res) if res is not None else None
        return task, result

    def get_results(self, tenant: str, task_ids: list[str]) -> Plan[dict[str, tuple[Task, TaskResult | None]]]:
        """``get_result`` for many tasks in one round trip: {id: (task, result | None)}; ids with no
        task are left out."""
        ks = self.ks(tenant)
        ids = [validate_task_id(task_id) for task_id in task_ids]
        if not ids:
            return {}
        calls = []
        for task_id in ids:
            shard = ks.shard_of(task_id)
            calls += [("HGET", ks.key(shard, "tasks"), task_id), ("HGET", ks.key(shard, "results"), task_id)]
        replies = yield ("pipe", calls)
        found = {}
        for task_id, raw, res in zip(ids, replies[::2], replies[1::2], strict=True):
            if raw is not None:
                result = decode_result(task_id, res) if res is not None else None
                found[task_id] = (decode_task(tenant, task_id, raw), result)
        return found

    def task_by_idempotency_key(self, tenant: str, key: str) -> Plan[Task]:
        """The task enqueued with idempotency key ``key`` (a direct lookup in the key's shard); NotFound
        when no live task holds it."""
        ks = self.ks(tenant)
        if not isinstance(key, str) or not key or len(key) > 256 or "\x00" in key:
            raise NotFound("task not found")
        shard = ks.shard_of("i:" + key)
        task_id = yield ("cmd", ("HGET", ks.key(shard, "idem"), key))
        if task_id is None:
            raise NotFound("task not found")
        _, task = yield from self._record(ks, task_id.decode())
        return task

    def scan_tasks(self, tenant: str, cursor: str | None = None, count: int = 100, id_prefix: str = "") -> Plan[Page]:
        """One bounded step through the tenant's task records of every state, in no set order, for
        searches that cannot use an index: one HSCAN of one shard's records (about ``count`` of them),
        so a step costs the same however many tasks the tenant holds. ``id_prefix`` keeps ids that start
        with it (HSCAN MATCH ``prefix*``: task ids hold no glob character, and KVRocks serves prefix
        patterns). The cursor is ``<shard>:<scan cursor>``; ``next_cursor`` is None after the last step.
        A task that exists for the whole scan is returned at least once; one enqueued meanwhile may not be.
        """
        ks = self.ks(tenant)
        _int(count, "count", 1, 1000)
        if id_prefix and not TASK_ID_RE.match(id_prefix):
            raise _invalid("id", "a task id holds only letters, digits and . _ : @ + -")
        shard, scan = 0, "0"
        if cursor:
            head, _, scan = cursor.partition(":")
            if not head.isdigit() or int(head) >= ks.shards or not scan:
                raise _invalid("cursor", "invalid cursor")
            shard = int(head)
        query: tuple[Any, ...] = ("HSCAN", ks.key(shard, "tasks"), scan)
        if id_prefix:
            query += ("MATCH", f"{id_prefix}*")
        after, flat = yield ("cmd", (*query, "COUNT", count))
        tasks = [decode_task(tenant, flat[i].decode(), flat[i + 1]) for i in range(0, len(flat), 2)]
        after = after.decode() if isinstance(after, bytes) else str(after)
        if after != "0":
            return Page(tasks, f"{shard}:{after}")
        return Page(tasks, f"{shard + 1}:0" if shard + 1 < ks.shards else None)

    def commands(self, tenant: str) -> Plan[list[str]]:
        ks = self.ks(tenant)
        replies = yield ("pipe", [("SMEMBERS", ks.key(s, "cmds")) for s in range(ks.shards)])
        return sorted({m.decode() for members in replies for m in members})

    def queue_stats(self, tenant: str, command: str) -> Plan[QueueStats]:
        """Depths and counters of one command, without scanning any queue."""
        ks = self.ks(tenant)
        cmd = validate_command(command)
        fields = [f"{cmd}/{n}" for n in ("created", "completed", "failed", "dead", "inflight", "delayed")]
        fields += [f"{cmd}/stale/{p}" for p in range(10)]
        fields += [f"{cmd}/paused", f"{cmd}/cap"]
        stats = QueueStats(cmd, [0] * 10, 0, 0, 0, 0, 0, 0, 0, None)
        heads: list[tuple[int, int, str]] = []
        for shard in range(ks.shards):
            block = ks.command_block(shard, cmd)
            reply = yield ("pipe", [("LLEN", k) for k in block[:10]] + [
                ("ZCARD", block[10]), ("HMGET", ks.key(shard, "stats"), *fields),
            ])  # fmt: skip
            counters = [int(v or 0) for v in reply[11][:16]]
            paused, cap = reply[11][16:]
            stats.paused = stats.paused or paused is not None
            if cap is not None:
                stats.max_in_flight = (stats.max_in_flight or 0) + int(cap)
            for p in range(10):
                stats.ready_by_priority[p] += max(reply[p] - counters[6 + p], 0)
            stats.dlq += reply[10]
            stats.created += counters[0]
            stats.completed += counters[1]
            stats.failed += counters[2]
            stats.dead += counters[3]
            stats.in_flight += counters[4]
            stats.delayed += counters[5]
            # The first live entry of a list lies within its first (stale count + 1) entries.
            lists = [(p, min(counters[6 + p], 100)) for p in range(10) if reply[p] > counters[6 + p]]
            if lists:
                ranges = yield ("pipe", [("LRANGE", block[p], 0, stale) for p, stale in lists])
                heads += [(shard, p, tid.decode()) for (p, _), ids in zip(lists, ranges, strict=True) for tid in ids]
        if heads:
            raws = yield ("pipe", [("HGET", ks.key(s, "tasks"), tid) for s, _, tid in heads])
            first: dict[tuple[int, int], int] = {}
            for (shard, p, tid), raw in zip(heads, raws, strict=True):
                if (shard, p) in first or raw is None:
                    continue
                task = decode_task(tenant, tid, raw)
                if task.state == "ready" and task.priority == p and task.command_key == cmd:
                    first[(shard, p)] = task.updated_ms
            stats.oldest_ready_ms = min(first.values()) if first else None
        return stats

    def _zset_page(self, tenant: str, name: str, limit: int, cursor: str | None, newest_first: bool,
                   command: str = "", dlq: bool = False, low: int | None = None,
                   high: int | None = None) -> Plan[Page]:  # fmt: skip
        """A page of a score-ordered set merged over the shards; the cursor is ``score:id`` of the
        last item returned. With ``command`` on a shared set, other commands' entries are skipped:
        the page may be short, never the scan unbounded. ``low``/``high`` bound the scores (inclusive)."""
        ks = self.ks(tenant)
        _int(limit, "limit", 1, 500)
        after: tuple[int, str] | None = None
        if cursor:
            score, _, last = cursor.partition(":")
            if not score.lstrip("-").isdigit() or not last:
                raise _invalid("cursor", "invalid cursor")
            after = (int(score), last)
        fetch = limit + 50
        entries: list[tuple[int, str, int]] = []
        more = False
        for shard in range(ks.shards):
            key = ks.dlq_key(shard, command) if dlq else ks.key(shard, name)
            floor: int | str = "-inf" if low is None else low
            ceiling: int | str = "+inf" if high is None else high
            if after and newest_first:
                ceiling = after[0] if high is None else min(after[0], high)
            elif after:
                floor = after[0] if low is None else max(after[0], low)
            offset = taken = 0
            # Entries sharing the cursor's score are read past by offset, a bounded number of rounds.
            for _ in range(20):
                if newest_first:
                    query = ("ZREVRANGEBYSCORE", key, ceiling, floor, "WITHSCORES", "LIMIT", offset, fetch)
                else:
                    query = ("ZRANGEBYSCORE", key, floor, ceiling, "WITHSCORES", "LIMIT", offset, fetch)
                rows = yield ("cmd", query)
                for member, score in zip(rows[::2], rows[1::2], strict=True):
                    entry = (int(float(score)), member.decode(), shard)
                    if after is None or (
                        (entry[0], entry[1]) < after if newest_first else (entry[0], entry[1]) > after
                    ):
                        entries.append(entry)
                        taken += 1
                offset += len(rows) // 2
                if len(rows) // 2 < fetch:
                    break
                if taken >= limit:
                    more = True
                    break
        entries.sort(key=lambda e: (e[0], e[1]), reverse=newest_first)
        more = more or len(entries) > limit
        entries = entries[:limit]
        if not entries:
            return Page([], None)
        raws = yield ("pipe", [("HGET", ks.key(s, "tasks"), tid) for _, tid, s in entries])
        tasks = [decode_task(tenant, tid, raw) for (_, tid, _), raw in zip(entries, raws, strict=True) if raw]
        if command and not dlq:
            tasks = [t for t in tasks if t.command_key == command]
        last_score, last_id, _ = entries[-1]
        return Page(tasks, f"{last_score}:{last_id}" if more else None)

    def leases(self, tenant: str, limit: int = 50, cursor: str | None = None, command: str = "") -> Plan[Page]:
        """Active leases, soonest expiry first."""
        cmd = validate_command(command) if command else ""
        return (yield from self._zset_page(tenant, "leases", limit, cursor, False, cmd))

    def delayed(self, tenant: str, limit: int = 50, cursor: str | None = None, command: str = "") -> Plan[Page]:
        """Delayed tasks, earliest due first."""
        cmd = validate_command(command) if command else ""
        return (yield from self._zset_page(tenant, "delayed", limit, cursor, False, cmd))

    def finished(self, tenant: str, limit: int = 50, cursor: str | None = None, command: str = "") -> Plan[Page]:
        """Finished tasks (completed, failed, cancelled), the latest first, until retention removes them."""
        cmd = validate_command(command) if command else ""
        return (yield from self._zset_page(tenant, "done", limit, cursor, True, cmd))

    def dlq(self, tenant: str, command: str, limit: int = 50, cursor: str | None = None,
            since_ms: int | None = None, until_ms: int | None = None) -> Plan[Page]:  # fmt: skip
        """Dead-lettered tasks of one command, newest death first; ``since_ms``/``until_ms`` bound
        the time of death (inclusive), read as a score range of the DLQ's sorted set."""
        cmd = validate_command(command)
        return (yield from self._zset_page(tenant, "dlq", limit, cursor, True, cmd, dlq=True,
                                           low=since_ms, high=until_ms))  # fmt: skip

    def dlq_count(
        self, tenant: str, command: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> Plan[int]:
        """How many dead-lettered tasks of one command died within the bounds (ZCOUNT: no scan)."""
        ks = self.ks(tenant)
        cmd = validate_command(command)
        floor = "-inf" if since_ms is None else since_ms
        ceiling = "+inf" if until_ms is None else until_ms
        counts = yield ("pipe", [("ZCOUNT", ks.dlq_key(s, cmd), floor, ceiling) for s in range(ks.shards)])
        return sum(counts)

    def ready(self, tenant: str, command: str, limit: int = 50, cursor: str | None = None) -> Plan[Page]:
        """Ready tasks of one command in claim order (per shard); cursor ``shard:priority:offset``."""
        ks = self.ks(tenant)
        cmd = validate_command(command)
        _int(limit, "limit", 1, 500)
        shard, prio, offset = 0, 9, 0
        if cursor:
            parts = cursor.split(":")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                raise _invalid("cursor", "invalid cursor")
            shard, prio, offset = (int(p) for p in parts)
        found: list[tuple[int, str]] = []
        while shard < ks.shards and len(found) < limit:
            ids = yield ("cmd", ("LRANGE", ks.ready_key(shard, cmd, prio), offset, offset + limit - len(found) - 1))
            found += [(shard, i.decode()) for i in ids]
            offset += len(ids)
            if len(found) < limit:
                shard, prio, offset = (shard, prio - 1, 0) if prio > 0 else (shard + 1, 9, 0)
        tasks: list[Task] = []
        if found:
            raws = yield ("pipe", [("HGET", ks.key(s, "tasks"), tid) for s, tid in found])
            for (_, tid), raw in zip(found, raws, strict=True):
                task = decode_task(tenant, tid, raw) if raw else None
                if task and task.state == "ready" and task.command_key == cmd:
                    tasks.append(task)
        more = shard < ks.shards
        return Page(tasks, f"{shard}:{prio}:{offset}" if more else None)
