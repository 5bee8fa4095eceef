"""What the platform answers, as typed objects. Each model keeps the JSON it was read from in ``raw``.

Field names are snake_case; times are timezone-aware ``datetime`` objects; ``Task.payload`` is the JSON
value the producer sent (the contract carries it re-serialised as a string; it is decoded here).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

QUEUE_KEY = re.compile(
    r"^codeq:q:(?P<command>.+):(?P<tenant>[^:]+):"
    r"(?P<kind>pending:(?P<priority>\d)|inprog|delayed|dlq|paused|maxInFlight)$"
)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _payload(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass
class Task:
    """A task as ``GET /tasks/{id}`` shows it."""

    id: str
    command: str
    payload: Any
    status: str
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 0
    tenant_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    worker_id: str | None = None
    lease_until: datetime | None = None
    error: str | None = None
    run_at: datetime | None = None
    completed_at: datetime | None = None
    dead_lettered_at: datetime | None = None
    webhook: str | None = None
    idempotency_key: str | None = None
    deduplication_key: str | None = None
    progress: Any = None
    tags: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=data["id"],
            command=data["command"],
            payload=_payload(data.get("payload")),
            status=data["status"],
            priority=data.get("priority", 0),
            attempts=data.get("attempts", 0),
            max_attempts=data.get("maxAttempts", 0),
            tenant_id=data.get("tenantId"),
            created_at=_time(data.get("createdAt")),
            updated_at=_time(data.get("updatedAt")),
            worker_id=data.get("workerId"),
            lease_until=_time(data.get("leaseUntil")),
            error=data.get("error"),
            run_at=_time(data.get("runAt")),
            completed_at=_time(data.get("completedAt")),
            dead_lettered_at=_time(data.get("deadLetteredAt")),
            webhook=data.get("webhook"),
            idempotency_key=data.get("idempotencyKey"),
            deduplication_key=data.get("deduplicationKey"),
            progress=data.get("progress"),
            tags=list(data.get("tags") or ()),
            raw=data,
        )


@dataclass
class Artifact:
    name: str
    url: str


@dataclass
class TaskResult:
    """A stored result; ``task`` is set when it was read with ``Client.result`` (the task beside it)."""

    task_id: str
    status: str
    result: Any
    error: str | None
    artifacts: list[Artifact]
    completed_at: datetime | None
    task: Task | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED"

    @classmethod
    def from_json(cls, data: dict[str, Any], task: Task | None = None) -> TaskResult:
        return cls(
            task_id=data["taskId"],
            status=data["status"],
            result=data.get("result"),
            error=data.get("error"),
            artifacts=[Artifact(a["name"], a["url"]) for a in data.get("artifacts") or ()],
            completed_at=_time(data.get("completedAt")),
            task=task,
            raw=data,
        )


@dataclass
class ItemError:
    """One item of a batch the server refused; the others went through."""

    message: str
    task_id: str | None = None


@dataclass
class Nacked:
    """A nack's outcome: retried after ``delay_seconds``, or dead-lettered (``dead``)."""

    dead: bool
    delay_seconds: int


@dataclass
class QueueCounts:
    """One command's depths, from ``GET /admin/queues``."""

    command: str
    ready: int = 0
    delayed: int = 0
    in_progress: int = 0
    dlq: int = 0
    ready_by_priority: dict[int, int] = field(default_factory=dict)
    paused: bool = False
    max_in_flight: int | None = None


def queue_counts(data: dict[str, int]) -> dict[str, QueueCounts]:
    """codeQ's flat ``codeq:q:<cmd>:<tenant>:pending:<p>|inprog|delayed|dlq`` keys, by command."""
    out: dict[str, QueueCounts] = {}
    for key, count in data.items():
        match = QUEUE_KEY.match(key)
        if match is None:
            continue
        counts = out.setdefault(match["command"], QueueCounts(match["command"]))
        kind = match["kind"]
        if match["priority"] is not None:
            counts.ready += count
            counts.ready_by_priority[int(match["priority"])] = count
        elif kind == "inprog":
            counts.in_progress = count
        elif kind == "delayed":
            counts.delayed = count
        elif kind == "paused":
            counts.paused = bool(count)
        elif kind == "maxInFlight":
            counts.max_in_flight = count
        else:
            counts.dlq = count
    return dict(sorted(out.items()))


@dataclass
class QueueStats:
    """One command's depths and counters, from ``GET /admin/queues/{command}``."""

    command: str
    ready: int
    delayed: int
    in_progress: int
    dlq: int
    ready_by_priority: dict[int, int]
    completed: int | None
    failed: int | None
    dead_lettered: int | None
    created: int | None
    oldest_ready_age_seconds: int | None
    paused: bool = False
    max_in_flight: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueueStats:
        return cls(
            command=data["command"],
            ready=data["ready"],
            delayed=data["delayed"],
            in_progress=data["inProgress"],
            dlq=data["dlq"],
            ready_by_priority={int(p): n for p, n in (data.get("readyByPriority") or {}).items()},
            completed=data.get("completed"),
            failed=data.get("failed"),
            dead_lettered=data.get("deadLettered"),
            created=data.get("created"),
            oldest_ready_age_seconds=data.get("oldestReadyAgeSeconds"),
            paused=bool(data.get("paused")),
            max_in_flight=data.get("maxInFlight"),
            raw=data,
        )


@dataclass
class QueueSettings:
    """A command's settings, from the pause, resume and limits routes: claims skip it while ``paused``;
    ``max_in_flight`` caps its tasks in flight (None: no cap)."""

    command: str
    paused: bool
    max_in_flight: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueueSettings:
        return cls(command=data["command"], paused=data["paused"], max_in_flight=data.get("maxInFlight"))


@dataclass
class TaskPage:
    """A page of tasks; ``next_cursor`` is None on the last page."""

    tasks: list[Task]
    next_cursor: str | None


@dataclass
class Bulk:
    """A bounded bulk step (DLQ requeue or purge): how many it moved and whether more remain."""

    count: int
    remaining: bool


@dataclass
class Cleanup:
    deleted: int
    before: datetime | None
    limit: int


@dataclass
class ScheduleSpec:
    """What a schedule enqueues and when: a cron rule (5 fields, ``@hourly``, ``@every 30s``) in ``timezone``."""

    cron: str
    command: str
    payload: Any = None
    timezone: str = "UTC"
    priority: int = 0
    max_attempts: int = 0
    webhook: str | None = None
    paused: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cron": self.cron,
            "command": self.command,
            "timezone": self.timezone,
            "priority": self.priority,
            "maxAttempts": self.max_attempts,
            "paused": self.paused,
        }
        if self.payload is not None:
            body["payload"] = self.payload
        if self.webhook:
            body["webhook"] = self.webhook
        return body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScheduleSpec:
        return cls(
            cron=data["cron"],
            command=data["command"],
            payload=data.get("payload"),
            timezone=data.get("timezone") or "UTC",
            priority=data.get("priority") or 0,
            max_attempts=data.get("maxAttempts") or 0,
            webhook=data.get("webhook") or None,
            paused=bool(data.get("paused")),
        )


@dataclass
class Schedule:
    schedule_id: str
    name: str
    spec: ScheduleSpec
    version: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_task_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    tenant_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            schedule_id=data["scheduleId"],
            name=data["name"],
            spec=ScheduleSpec.from_json(data["spec"]),
            version=data["version"],
            next_run_at=_time(data.get("nextRunAt")),
            last_run_at=_time(data.get("lastRunAt")),
            last_task_id=data.get("lastTaskId"),
            created_at=_time(data.get("createdAt")),
            updated_at=_time(data.get("updatedAt")),
            tenant_id=data.get("tenantId"),
            raw=data,
        )


@dataclass
class ApiToken:
    """An API token; ``token`` (the bearer) is only set on the answer that issued it."""

    id: int
    name: str
    role: str
    created: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    token: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiToken:
        return cls(
            id=data["id"],
            name=data["name"],
            role=data["role"],
            created=_time(data.get("created")),
            last_used_at=_time(data.get("lastUsedAt")),
            expires_at=_time(data.get("expiresAt")),
            revoked_at=_time(data.get("revokedAt")),
            token=data.get("token"),
            raw=data,
        )


@dataclass
class WebhookSubscription:
    """A tenant's event subscription; ``secret`` is only set when it was created (shown once)."""

    id: int
    url: str
    events: list[str]
    commands: list[str]
    active: bool
    paused_reason: str
    created: datetime | None
    previous_secret_expires_at: datetime | None
    secret: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebhookSubscription:
        return cls(
            id=data["id"],
            url=data["url"],
            events=list(data.get("events") or ()),
            commands=list(data.get("commands") or ()),
            active=bool(data.get("active")),
            paused_reason=data.get("pausedReason") or "",
            created=_time(data.get("created")),
            previous_secret_expires_at=_time(data.get("previousSecretExpiresAt")),
            secret=data.get("secret"),
            raw=data,
        )


@dataclass
class Secret:
    """A secret shown once (a rotation's answer), and until when the previous one still signs."""

    secret: str
    previous_secret_expires_at: datetime | None


@dataclass
class DeliveryAttempt:
    number: int
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str
    response_body: str
    at: datetime | None


@dataclass
class Delivery:
    """A webhook delivery (result callback or subscription event) with every attempt made."""

    id: str
    subscription_id: int | None
    kind: str
    event_type: str
    task_id: str
    url: str
    status: str
    attempts: int
    max_attempts: int
    created_at: datetime | None
    updated_at: datetime | None
    attempt_log: list[DeliveryAttempt]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delivery:
        return cls(
            id=str(data["id"]),
            subscription_id=data.get("subscriptionId"),
            kind=data.get("kind", ""),
            event_type=data.get("eventType", ""),
            task_id=data.get("taskId", ""),
            url=data.get("url", ""),
            status=data["status"],
            attempts=data.get("attempts", 0),
            max_attempts=data.get("maxAttempts", 0),
            created_at=_time(data.get("createdAt")),
            updated_at=_time(data.get("updatedAt")),
            attempt_log=[
                DeliveryAttempt(
                    a["number"],
                    a["ok"],
                    a.get("statusCode"),
                    a.get("latencyMs", 0),
                    a.get("error", ""),
                    a.get("responseBody", ""),
                    _time(a.get("at")),
                )
                for a in data.get("attemptLog") or ()
            ],
            raw=data,
        )


@dataclass
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None


@dataclass
class Queued:
    """A send the platform queued (a test event, a redelivery)."""

    delivery_id: str
    status: str


@dataclass
class WorkerSubscription:
    """A worker's wake-up subscription; the listing fills the fields beyond id and expiry."""

    subscription_id: str
    expires_at: datetime | None
    callback_url: str | None = None
    event_types: list[str] = field(default_factory=list)
    delivery_mode: str | None = None
    group_id: str | None = None
    min_interval_seconds: int | None = None
    ttl_seconds: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerSubscription:
        return cls(
            subscription_id=data["subscriptionId"],
            expires_at=_time(data.get("expiresAt")),
            callback_url=data.get("callbackUrl"),
            event_types=list(data.get("eventTypes") or ()),
            delivery_mode=data.get("deliveryMode"),
            group_id=data.get("groupId"),
            min_interval_seconds=data.get("minIntervalSeconds"),
            ttl_seconds=data.get("ttlSeconds"),
            created_at=_time(data.get("createdAt")),
            created_by=data.get("createdBy"),
        )


@dataclass
class UsageDay:
    """One UTC day of a tenant's usage."""

    day: date
    tasks_created: int
    tasks_completed: int
    tasks_failed: int
    tasks_dead_lettered: int
    api_requests: int
    payload_bytes: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UsageDay:
        return cls(
            day=date.fromisoformat(data["day"]),
            tasks_created=data["tasksCreated"],
            tasks_completed=data["tasksCompleted"],
            tasks_failed=data["tasksFailed"],
            tasks_dead_lettered=data["tasksDeadLettered"],
            api_requests=data["apiRequests"],
            payload_bytes=data["payloadBytes"],
        )


@dataclass
class Quota:
    """The monthly task quota as it stands: tasks created this calendar month (UTC) against the limit."""

    limit: int
    used: int
    remaining: int
    resets_at: datetime | None


@dataclass
class Usage:
    """``GET /admin/usage``: the tenant's usage per UTC day, oldest first, and its quota (None: no quota)."""

    tenant: str
    quota: Quota | None
    days: list[UsageDay]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        quota = data.get("quota")
        return cls(
            tenant=data["tenant"],
            quota=None
            if quota is None
            else Quota(quota["limit"], quota["used"], quota["remaining"], _time(quota.get("resetsAt"))),
            days=[UsageDay.from_json(d) for d in data["days"]],
            raw=data,
        )
