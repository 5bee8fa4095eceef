"""What the engine takes and returns: plain dataclasses, no store types."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgpack
import orjson


class State(StrEnum):
    """Where a task is; the contract's ``status`` is derived from it."""

    READY = "ready"
    DELAYED = "delayed"
    LEASED = "leased"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
MAX_EVENTS = 20  # a task keeps its last 20 events (MAX_EVENTS in scripts/lib.lua)
STATES = list(State)  # index = the state code stored in records
STATUS = {
    State.READY: "PENDING",
    State.DELAYED: "PENDING",
    State.LEASED: "IN_PROGRESS",
    State.COMPLETED: "COMPLETED",
    State.FAILED: "FAILED",
    State.DEAD: "FAILED",
    State.CANCELLED: "FAILED",
}


@dataclass(slots=True)
class TaskEvent:
    """One entry of a task's bounded history: what happened, when (ms), and a detail."""

    kind: str
    at_ms: int
    detail: str


@dataclass(slots=True)
class Task:
    """A task as stored in the engine: ``command`` as sent, ``command_key`` its routing form."""

    id: str
    tenant: str
    command: str
    payload: str
    priority: int
    state: State
    attempts: int
    max_attempts: int
    created_ms: int
    updated_ms: int
    worker_id: str
    lease_until_ms: int
    error: str
    idempotency_key: str
    dedup_key: str
    webhook: str
    tags: list[str]
    progress: str
    due_ms: int
    finished_ms: int
    history: str = ""
    command_key: str = ""

    @property
    def status(self) -> str:
        return STATUS[self.state]

    @property
    def events(self) -> list[TaskEvent]:
        """The bounded history, oldest first (parsed on demand: only the task page reads it)."""
        events = []
        for line in self.history.split("\x1e")[:-1]:
            kind, at_ms, detail = line.split("\x1f", 2)
            events.append(TaskEvent(kind, int(at_ms), detail))
        return events


@dataclass(slots=True)
class TaskResult:
    """A stored final result: ``result`` and ``artifacts`` are JSON text, '' when absent."""

    task_id: str
    status: str
    result: str
    error: str
    artifacts: str
    completed_ms: int


@dataclass(slots=True)
class NewTask:
    """What a producer asks to enqueue. ``payload`` is any JSON value except null."""

    command: str
    payload: Any
    priority: int = 0
    max_attempts: int | None = None
    delay_ms: int = 0
    run_at_ms: int | None = None
    idempotency_key: str = ""
    dedup_key: str = ""
    task_id: str = ""
    webhook: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Enqueued:
    """The answer to one enqueue: the task, and whether this call created it."""

    task: Task
    created: bool


@dataclass(slots=True)
class Report:
    """One final result of a batch: COMPLETED with ``result``, or FAILED with ``error``."""

    task_id: str
    completed: bool
    result: Any = None
    error: str = ""
    artifacts: Any = None


class Settled:
    """A final result accepted, and the next tasks claimed in the same call.

    The settled task is decoded only when asked for: a busy worker moving on to its next task
    never looks at it.
    """

    __slots__ = ("_raw", "_task", "claimed", "repeated", "task_id", "tenant")

    def __init__(self, tenant: str, task_id: str, raw: bytes, claimed: list[Task], repeated: bool = False) -> None:
        self.tenant = tenant
        self.task_id = task_id
        self._raw = raw
        self._task: Task | None = None
        self.claimed = claimed
        self.repeated = repeated

    @property
    def task(self) -> Task:
        if self._task is None:
            self._task = decode_task(self.tenant, self.task_id, self._raw)
        return self._task


@dataclass(slots=True)
class Nacked:
    """A nack's outcome: retried after ``delay_ms``, or dead-lettered."""

    task: Task
    dead: bool
    delay_ms: int


@dataclass(slots=True)
class Moved:
    """A bulk move (replay, delete, purge, trim): how many moved and whether more remain."""

    count: int
    remaining: bool


@dataclass(slots=True)
class QueueStats:
    """Depths and counters of one command, summed over the tenant's shards."""

    command: str
    ready_by_priority: list[int]
    delayed: int
    in_flight: int
    dlq: int
    created: int
    completed: int
    failed: int
    dead: int
    oldest_ready_ms: int | None
    paused: bool = False
    max_in_flight: int | None = None

    @property
    def ready(self) -> int:
        return sum(self.ready_by_priority)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """A command's settings: claims skip it while ``paused``; ``max_in_flight`` caps its leased tasks
    (None: no cap), split across the tenant's shards."""

    command: str
    paused: bool
    max_in_flight: int | None


@dataclass(slots=True)
class Page:
    """One page of tasks; ``next_cursor`` is None on the last page."""

    tasks: list[Task]
    next_cursor: str | None


@dataclass(slots=True)
class SweepReport:
    expired: int = 0
    promoted: int = 0


OUTBOX_KINDS = {"c": "completed", "f": "failed", "d": "dead"}
OUTBOX_BITS = {"completed": 1, "failed": 2, "dead": 4}  # the 'hooks' bits of lib.lua


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A terminal transition someone may be called back about, as read from a shard's outbox.

    ``kind`` is ``completed``, ``failed`` (a FAILED result or a cancel) or ``dead``; ``raw`` is the
    entry as stored, which acknowledging it needs.
    """

    tenant: str
    shard: int
    task_id: str
    kind: str
    at_ms: int
    raw: bytes

    @property
    def id(self) -> str:
        """Stable across re-reads of the same event: the key that makes acting on it idempotent."""
        return f"{self.tenant}/{self.kind}/{self.at_ms}/{self.task_id}"


def decode_outbox_event(tenant: str, shard: int, raw: bytes) -> OutboxEvent:
    kind, task_id, at_ms = raw.decode().split("\x1f")
    return OutboxEvent(tenant, shard, task_id, OUTBOX_KINDS[kind], int(at_ms), raw)


def decode_task(tenant: str, task_id: str, raw: bytes) -> Task:
    """Build a Task from its msgpack record (field order: lib.lua's R_* constants)."""
    r = msgpack.unpackb(raw, raw=False, unicode_errors="surrogateescape")
    tags = orjson.loads(r[14]) if r[14] else []
    return Task(
        id=task_id,
        tenant=tenant,
        command=r[0],
        payload=r[1],
        priority=r[2],
        state=STATES[r[3]],
        attempts=r[4],
        max_attempts=r[5],
        created_ms=r[6],
        updated_ms=r[7],
        worker_id=r[8],
        lease_until_ms=r[9],
        error=r[10],
        idempotency_key=r[11],
        dedup_key=r[12],
        webhook=r[13],
        tags=tags,
        progress=r[15],
        due_ms=r[16],
        finished_ms=r[17],
        history=r[18],
        command_key=_command_key(r),
    )


def _command_key(r: list[Any]) -> str:
    """The routing form of a record's command as the scripts read it (``cmd_key`` in lib.lua): stored
    when it differs from the command as sent; a record written before it was stored has an ASCII
    lowercase routing form, the only one such records could be claimed under."""
    command: str = r[0]
    if len(r) <= 20:
        return command.translate(_ASCII_LOWER)
    key: str = r[20]
    return key or command


def encode_result(status: str, result: str, error: str, artifacts: str) -> bytes:
    """A stored result without its last field, the completion ms, which the script appends from the
    store's clock: the header of a five-element msgpack array, then the first four elements."""
    return b"\x95" + b"".join(msgpack.packb(value) for value in (status, result, error, artifacts))


def decode_result(task_id: str, raw: bytes) -> TaskResult:
    status, result, error, artifacts, completed_ms = msgpack.unpackb(raw, raw=False)
    return TaskResult(task_id, status, result, error, artifacts, completed_ms)
