"""The response shapes of the API (reference §1, §3-§5), from which the schema's answers are generated.

The views render with ``base/representations.py`` and the helpers beside them; the suite validates real
answers against these shapes, and the fuzz check every answer it provokes.
"""

from __future__ import annotations

from codeq_platform.api.shapes import Array, Boolean, Integer, Json, Object, Reply, String, Text

STATUSES = ("PENDING", "IN_PROGRESS", "COMPLETED", "FAILED")


def _time(*, required: bool = False, nullable: bool | None = None, description: str = "") -> Text:
    return Text("date-time", required=required, nullable=nullable, description=description)


class Error(Reply):
    """Every error: ``error`` is the message or a machine code (``not-owner``), ``code`` the stable code."""

    error = String(required=True)
    code = String(required=True)
    field = String(description="the request field at fault")
    retryAfterSeconds = Integer(0, description="429 and 503: when to try again")
    scope = String(description="429: what the limit applies to")
    operation = String(description="429: the operation that was limited")


class Task(Reply):
    """A task (reference §3); optional fields are absent, not null."""

    id = String(required=True)
    command = String(required=True)
    payload = String(required=True, description="the request's JSON value, re-serialised")
    priority = Integer(0, 9, required=True)
    status = String(required=True, enum=STATUSES)
    attempts = Integer(0, required=True)
    maxAttempts = Integer(0, required=True)
    tenantId = String(required=True)
    createdAt = _time(required=True)
    updatedAt = _time(required=True)
    workerId = String(description="while IN_PROGRESS")
    leaseUntil = _time(description="while IN_PROGRESS")
    error = String()
    runAt = _time()
    completedAt = _time()
    deadLetteredAt = _time()
    resultKey = String()
    webhook = String()
    idempotencyKey = String()
    deduplicationKey = String()
    progress = Json(description="the last progress reported")
    tags = Array(String())


class ArtifactLink(Reply):
    name = String(required=True)
    url = String(required=True)


class ResultAnswer(Reply):
    taskId = String(required=True)
    status = String(required=True, enum=("COMPLETED", "FAILED"))
    result = Json(required=True, nullable=True)
    error = String(required=True, nullable=True)
    artifacts = Array(Object(ArtifactLink), required=True)
    completedAt = _time(required=True)


class TaskAndResult(Reply):
    task = Object(Task, required=True)
    result = Object(ResultAnswer, required=True)


class CreateBatchAnswer(Reply):
    results = Array(Json(description="{task} or {error}"), required=True, description="one per item, in order")


class ClaimBatchAnswer(Reply):
    tasks = Array(Object(Task), required=True)


class ResultBatchAnswer(Reply):
    results = Array(Json(description="{taskId, result} or {taskId, error}"), required=True)


class Ok(Reply):
    ok = Boolean(required=True)


class GivenBack(Reply):
    status = String(required=True, enum=("requeued", "dlq"))
    delaySeconds = Integer(0)


class QueueDetail(Reply):
    command = String(required=True)
    ready = Integer(0, required=True)
    delayed = Integer(0, required=True)
    inProgress = Integer(0, required=True)
    dlq = Integer(0, required=True)
    readyByPriority = Object(values=Integer(0), required=True)
    completed = Integer(0, required=True)
    failed = Integer(0, required=True)
    deadLettered = Integer(0, required=True)
    created = Integer(0, required=True)
    oldestReadyAgeSeconds = Integer(0, required=True, nullable=True)
    paused = Boolean(required=True, description="claims skip the command while it is paused")
    maxInFlight = Integer(1, required=True, nullable=True, description="cap on its tasks in flight (null: none)")


class QueueSettings(Reply):
    command = String(required=True, description="the command's routing form")
    paused = Boolean(required=True, description="claims skip the command while it is paused")
    maxInFlight = Integer(1, required=True, nullable=True, description="cap on its tasks in flight (null: none)")


QUEUES = {
    "type": "object",
    "description": "queue key (codeQ's form, codeq:q:<cmd>:<tenant>:<state>) to task count; beside codeQ's "
    "states, <state> 'paused' (1) is present while the command is paused and 'maxInFlight' (its cap) while "
    "it has a cap on tasks in flight",
    "additionalProperties": {"type": "integer", "minimum": 0},
}


class TaskPage(Reply):
    tasks = Array(Object(Task), required=True)
    nextCursor = String(description="absent on the last page")


class Requeued(Reply):
    requeued = Integer(0, required=True)
    remaining = Boolean(required=True)


class Purged(Reply):
    deleted = Integer(0, required=True)
    remaining = Boolean(required=True)


class CleanupAnswer(Reply):
    deleted = Integer(0, required=True)
    before = _time(required=True)
    limit = Integer(1, required=True)


class SubscriptionLease(Reply):
    subscriptionId = Text("uuid", required=True)
    expiresAt = _time(required=True)


class WorkerSubscription(Reply):
    subscriptionId = Text("uuid", required=True)
    callbackUrl = String(required=True)
    eventTypes = Array(String(), required=True, description="empty: every command")
    deliveryMode = String(required=True, enum=("fanout", "group", "hash"))
    groupId = String(required=True, nullable=True)
    minIntervalSeconds = Integer(1, required=True)
    ttlSeconds = Integer(1, required=True)
    createdAt = _time(required=True)
    expiresAt = _time(required=True)
    createdBy = String(required=True)


class WorkerSubscriptionList(Reply):
    subscriptions = Array(Object(WorkerSubscription), required=True)


class ScheduleSpec(Reply):
    cron = String(required=True)
    timezone = String(required=True)
    command = String(required=True)
    payload = Json(required=True)
    priority = Integer(0, 9, required=True)
    maxAttempts = Integer(0, 100, required=True)
    webhook = String(required=True)
    paused = Boolean(required=True)


class Schedule(Reply):
    scheduleId = Text("uuid", required=True)
    tenantId = String(required=True)
    name = String(required=True)
    spec = Object(ScheduleSpec, required=True)
    version = Integer(1, required=True, description="bumped by every change of the spec")
    nextRunAt = _time(required=True, nullable=True, description="null while paused")
    lastRunAt = _time(required=True, nullable=True, description="the last slot that created a task")
    lastTaskId = String(required=True, nullable=True)
    createdAt = _time(required=True)
    updatedAt = _time(required=True, description="the last change of the spec")


class ScheduleList(Reply):
    schedules = Array(Object(Schedule), required=True)


class UsageDay(Reply):
    day = Text("date", required=True)
    tasksCreated = Integer(0, required=True)
    tasksCompleted = Integer(0, required=True)
    tasksFailed = Integer(0, required=True)
    tasksDeadLettered = Integer(0, required=True)
    apiRequests = Integer(0, required=True)
    payloadBytes = Integer(0, required=True, description="payload bytes of the tasks created")


class Quota(Reply):
    limit = Integer(0, required=True, description="tasks per calendar month (UTC)")
    used = Integer(0, required=True)
    remaining = Integer(0, required=True)
    resetsAt = _time(required=True)


class UsageReport(Reply):
    """A tenant's usage per UTC day, and its monthly quota (null without one)."""

    tenant = String(required=True)
    quota = Object(Quota, required=True, nullable=True, description="null when the tenant has no monthly quota")
    days = Array(Object(UsageDay), required=True)
