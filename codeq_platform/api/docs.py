"""What drf-spectacular reads to generate the OpenAPI schema of the async endpoints.

Each class stands for one route (``endpoint(doc=...)`` attaches it); its methods are never called.
The serializers describe the contract's bodies (reference §3-§5) and are checked against real
responses by the test suite.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView


class BearerScheme(OpenApiAuthenticationExtension):
    """Bearer JWTs issued per tenant and role (``codeq_token issue``)."""

    target_class = "codeq_platform.api.auth.BearerTokenAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class Error(serializers.Serializer):
    error = serializers.CharField(help_text="message or machine code, e.g. not-owner")
    code = serializers.CharField(help_text="stable machine code")
    field = serializers.CharField(required=False)
    retryAfterSeconds = serializers.IntegerField(required=False)


class Task(serializers.Serializer):
    id = serializers.CharField()
    command = serializers.CharField()
    payload = serializers.CharField(help_text="the request's JSON value, re-serialised")
    priority = serializers.IntegerField(min_value=0, max_value=9)
    status = serializers.ChoiceField(["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"])
    attempts = serializers.IntegerField()
    maxAttempts = serializers.IntegerField()
    tenantId = serializers.CharField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    workerId = serializers.CharField(required=False)
    leaseUntil = serializers.DateTimeField(required=False)
    error = serializers.CharField(required=False)
    runAt = serializers.DateTimeField(required=False)
    completedAt = serializers.DateTimeField(required=False)
    deadLetteredAt = serializers.DateTimeField(required=False)
    resultKey = serializers.CharField(required=False)
    webhook = serializers.URLField(required=False)
    idempotencyKey = serializers.CharField(required=False)
    deduplicationKey = serializers.CharField(required=False)
    progress = serializers.JSONField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class CreateTaskBody(serializers.Serializer):
    command = serializers.CharField(max_length=200)
    payload = serializers.JSONField(help_text="any JSON value except null")
    priority = serializers.IntegerField(min_value=0, max_value=9, default=0, help_text="9 is highest")
    maxAttempts = serializers.IntegerField(min_value=0, max_value=1000, default=5)
    webhook = serializers.URLField(required=False)
    idempotencyKey = serializers.CharField(required=False)
    deduplicationKey = serializers.CharField(required=False)
    taskId = serializers.CharField(required=False, max_length=200)
    runAt = serializers.DateTimeField(required=False)
    delaySeconds = serializers.IntegerField(min_value=0, required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=32)


class ClaimBody(serializers.Serializer):
    commands = serializers.ListField(child=serializers.CharField(), required=False)
    leaseSeconds = serializers.IntegerField(min_value=0, max_value=43200, default=300)
    waitSeconds = serializers.IntegerField(min_value=0, max_value=30, default=0)


class Artifact(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField(required=False)
    contentBase64 = serializers.CharField(required=False)
    contentType = serializers.CharField(required=False)


class ResultBody(serializers.Serializer):
    status = serializers.ChoiceField(["COMPLETED", "FAILED"])
    result = serializers.JSONField(required=False, help_text="required when COMPLETED")
    error = serializers.CharField(required=False, help_text="required when FAILED")
    artifacts = Artifact(many=True, required=False)


class ResultAnswer(serializers.Serializer):
    taskId = serializers.CharField()
    status = serializers.ChoiceField(["COMPLETED", "FAILED"])
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    artifacts = inline_serializer(
        "ArtifactLink", {"name": serializers.CharField(), "url": serializers.CharField()}, many=True
    )
    completedAt = serializers.DateTimeField()


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(Error) for code in (400, 401, 403, 429, 503, *codes)}


def _ok(serializer, status: int = 200) -> dict:
    return {status: serializer}


def _limit(high: int, default: int, description: str = "") -> OpenApiParameter:
    schema = {"type": "integer", "minimum": 1, "maximum": high, "default": default}
    return OpenApiParameter("limit", schema, description=description)


_PAGE = [
    _limit(500, 100, "page size"),
    OpenApiParameter("cursor", str, description="the previous page's nextCursor"),
]


# Documentation only: each route is served by an async endpoint (see endpoint.py).
class _Doc(APIView):
    pass


class CreateTask(_Doc):
    @extend_schema(
        operation_id="create_task",
        request=CreateTaskBody,
        responses={**_ok(Task, 202), **_errors(413)},
        tags=["tasks"],
        summary="Create a task",
    )
    def post(self, request): ...


class CreateBatch(_Doc):
    @extend_schema(
        operation_id="create_batch",
        request=inline_serializer("CreateBatchBody", {"tasks": CreateTaskBody(many=True)}),
        responses={
            **_ok(
                inline_serializer(
                    "CreateBatchAnswer",
                    {
                        "results": serializers.ListField(
                            child=serializers.JSONField(), help_text="per item {task} or {error}"
                        )
                    },
                )
            ),
            **_errors(413),
        },
        tags=["tasks"],
        summary="Create up to 100 tasks",
    )
    def post(self, request): ...


class Claim(_Doc):
    @extend_schema(
        operation_id="claim",
        request=ClaimBody,
        responses={**_ok(Task), 204: None, **_errors()},
        tags=["workers"],
        summary="Claim the next task (long-poll with waitSeconds)",
    )
    def post(self, request): ...


class ClaimBatch(_Doc):
    @extend_schema(
        operation_id="claim_batch",
        request=inline_serializer(
            "ClaimBatchBody",
            {
                "count": serializers.IntegerField(min_value=1, max_value=10),
                "commands": serializers.ListField(child=serializers.CharField(), required=False),
                "leaseSeconds": serializers.IntegerField(required=False),
            },
        ),
        responses={**_ok(inline_serializer("ClaimBatchAnswer", {"tasks": Task(many=True)})), 204: None, **_errors()},
        tags=["workers"],
        summary="Claim up to 10 tasks",
    )
    def post(self, request): ...


_OK = inline_serializer("Ok", {"ok": serializers.BooleanField()})
_REQUEUED = inline_serializer(
    "GivenBack", {"status": serializers.CharField(), "delaySeconds": serializers.IntegerField(required=False)}
)


class Heartbeat(_Doc):
    @extend_schema(
        operation_id="heartbeat",
        request=inline_serializer("HeartbeatBody", {"extendSeconds": serializers.IntegerField(required=False)}),
        responses={**_ok(_OK), **_errors(404)},
        tags=["workers"],
        summary="Extend the lease",
    )
    def post(self, request, task_id): ...


class Abandon(_Doc):
    @extend_schema(
        operation_id="abandon",
        request=None,
        responses={**_ok(_REQUEUED), **_errors(404)},
        tags=["workers"],
        summary="Give the task back now (attempt not charged)",
    )
    def post(self, request, task_id): ...


class Nack(_Doc):
    @extend_schema(
        operation_id="nack",
        request=inline_serializer(
            "NackBody",
            {"delaySeconds": serializers.IntegerField(required=False), "reason": serializers.CharField(required=False)},
        ),
        responses={**_ok(_REQUEUED), **_errors(404)},
        tags=["workers"],
        summary="Give the task back for a retry (backoff when no delay)",
    )
    def post(self, request, task_id): ...


class Result(_Doc):
    @extend_schema(
        operation_id="result",
        request=ResultBody,
        responses={**_ok(ResultAnswer), **_errors(404, 409)},
        tags=["workers"],
        summary="Report the final result",
    )
    def post(self, request, task_id): ...


class ResultBatch(_Doc):
    @extend_schema(
        operation_id="result_batch",
        request=inline_serializer("ResultBatchBody", {"results": serializers.ListField(child=serializers.JSONField())}),
        responses={
            **_ok(
                inline_serializer(
                    "ResultBatchAnswer",
                    {
                        "results": serializers.ListField(
                            child=serializers.JSONField(), help_text="per item {taskId, result} or {taskId, error}"
                        )
                    },
                )
            ),
            **_errors(),
        },
        tags=["workers"],
        summary="Report up to 100 results",
    )
    def post(self, request): ...


class Progress(_Doc):
    @extend_schema(
        operation_id="progress",
        request=inline_serializer("ProgressBody", {"progress": serializers.JSONField()}),
        responses={**_ok(_OK), **_errors(404, 409, 413)},
        tags=["workers"],
        summary="Record progress (kept across retries)",
    )
    def post(self, request, task_id): ...


class GetTask(_Doc):
    @extend_schema(
        operation_id="get_task", responses={**_ok(Task), **_errors(404)}, tags=["tasks"], summary="Get a task"
    )
    def get(self, request, task_id): ...


class GetResult(_Doc):
    @extend_schema(
        operation_id="get_result",
        parameters=[OpenApiParameter("waitSeconds", int, description="long-poll up to 60 s")],
        responses={
            **_ok(inline_serializer("TaskAndResult", {"task": Task(), "result": ResultAnswer()})),
            **_errors(404),
        },
        tags=["tasks"],
        summary="Get a task's result",
    )
    def get(self, request, task_id): ...


class GetArtifact(_Doc):
    @extend_schema(
        operation_id="get_artifact",
        responses={(200, "application/octet-stream"): OpenApiResponse(description="the artifact"), **_errors(404)},
        tags=["tasks"],
        summary="Download an inline artifact",
    )
    def get(self, request, task_id, name): ...


class Cancel(_Doc):
    @extend_schema(
        operation_id="cancel",
        request=None,
        responses={**_ok(Task), **_errors(404, 409)},
        tags=["tasks"],
        summary="Cancel a pending or delayed task (it ends FAILED, error CANCELLED)",
    )
    def post(self, request, task_id): ...


class Queues(_Doc):
    @extend_schema(
        operation_id="queues",
        responses={
            200: {
                "type": "object",
                "description": "queue key (codeQ's form, codeq:q:<cmd>:<tenant>:<state>) to task count",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            **_errors(),
        },
        tags=["admin"],
        summary="Every queue's counts",
    )
    def get(self, request): ...


class QueueDetail(_Doc):
    @extend_schema(
        operation_id="queue_detail",
        responses={
            **_ok(
                inline_serializer(
                    "QueueDetailAnswer",
                    {
                        "command": serializers.CharField(),
                        "ready": serializers.IntegerField(),
                        "delayed": serializers.IntegerField(),
                        "inProgress": serializers.IntegerField(),
                        "dlq": serializers.IntegerField(),
                        "readyByPriority": serializers.DictField(child=serializers.IntegerField()),
                        "completed": serializers.IntegerField(),
                        "failed": serializers.IntegerField(),
                        "deadLettered": serializers.IntegerField(),
                        "created": serializers.IntegerField(),
                        "oldestReadyAgeSeconds": serializers.IntegerField(allow_null=True),
                    },
                )
            ),
            **_errors(),
        },
        tags=["admin"],
        summary="One command's depths and counters",
    )
    def get(self, request, command): ...


class QueueTasks(_Doc):
    @extend_schema(
        operation_id="queue_tasks",
        parameters=[
            OpenApiParameter("state", str, enum=["ready", "delayed", "inProgress", "dlq"], required=True),
            *_PAGE,
        ],
        responses={
            **_ok(
                inline_serializer(
                    "TaskPage", {"tasks": Task(many=True), "nextCursor": serializers.CharField(required=False)}
                )
            ),
            **_errors(),
        },
        tags=["admin"],
        summary="A page of a command's tasks in one state",
    )
    def get(self, request, command): ...


class Requeue(_Doc):
    @extend_schema(
        operation_id="requeue",
        request=None,
        responses={**_ok(Task), **_errors(404, 409)},
        tags=["admin"],
        summary="Requeue a dead-lettered task",
    )
    def post(self, request, task_id): ...


_MOVED = inline_serializer(
    "Requeued", {"requeued": serializers.IntegerField(), "remaining": serializers.BooleanField()}
)
_PURGED = inline_serializer("Purged", {"deleted": serializers.IntegerField(), "remaining": serializers.BooleanField()})


class RequeueCommand(_Doc):
    @extend_schema(
        operation_id="requeue_command",
        request=None,
        parameters=[_limit(1000, 100, "tasks to move in this call")],
        responses={**_ok(_MOVED), **_errors()},
        tags=["admin"],
        summary="Requeue a command's DLQ, oldest first",
    )
    def post(self, request, command): ...


class PurgeDlq(_Doc):
    @extend_schema(
        operation_id="purge_dlq",
        parameters=[_limit(1000, 1000, "tasks to delete in this call")],
        responses={**_ok(_PURGED), **_errors()},
        tags=["admin"],
        summary="Delete a command's dead-lettered tasks",
    )
    def delete(self, request, command): ...


class DeleteTask(_Doc):
    @extend_schema(
        operation_id="delete_task", responses={204: None, **_errors(404, 409)}, tags=["admin"], summary="Delete a task"
    )
    def delete(self, request, task_id): ...


class Cleanup(_Doc):
    @extend_schema(
        operation_id="cleanup",
        request=inline_serializer(
            "CleanupBody",
            {
                "limit": serializers.IntegerField(required=False, min_value=1, max_value=10_000, default=1000),
                "before": serializers.DateTimeField(required=False),
            },
        ),
        responses={
            **_ok(
                inline_serializer(
                    "CleanupAnswer",
                    {
                        "deleted": serializers.IntegerField(),
                        "before": serializers.DateTimeField(),
                        "limit": serializers.IntegerField(),
                    },
                )
            ),
            **_errors(),
        },
        tags=["admin"],
        summary="Delete finished tasks older than a time",
    )
    def post(self, request): ...


class SubscribeBody(serializers.Serializer):
    callbackUrl = serializers.URLField(help_text="http(s) URL the wake-ups are POSTed to")
    eventTypes = serializers.ListField(
        child=serializers.CharField(), required=False, help_text='commands; absent, empty or ["*"] = every command'
    )
    ttlSeconds = serializers.IntegerField(min_value=1, max_value=86400, default=300)
    deliveryMode = serializers.ChoiceField(["fanout", "group", "hash"], default="fanout")
    groupId = serializers.CharField(required=False, max_length=200, help_text="required for deliveryMode=group")
    minIntervalSeconds = serializers.IntegerField(min_value=1, max_value=3600, default=5)


class WorkerSubscription(serializers.Serializer):
    subscriptionId = serializers.UUIDField()
    callbackUrl = serializers.CharField()
    eventTypes = serializers.ListField(child=serializers.CharField(), help_text="empty = every command")
    deliveryMode = serializers.ChoiceField(["fanout", "group", "hash"])
    groupId = serializers.CharField(allow_null=True)
    minIntervalSeconds = serializers.IntegerField()
    ttlSeconds = serializers.IntegerField()
    createdAt = serializers.DateTimeField()
    expiresAt = serializers.DateTimeField()
    createdBy = serializers.CharField()


_SUBSCRIPTION_LEASE = inline_serializer(
    "SubscriptionLease", {"subscriptionId": serializers.UUIDField(), "expiresAt": serializers.DateTimeField()}
)


class Subscribe(_Doc):
    @extend_schema(
        operation_id="subscribe",
        request=SubscribeBody,
        responses={**_ok(_SUBSCRIPTION_LEASE), **_errors(409)},
        tags=["workers"],
        summary="Ask for wake-ups when a command's queue gets work (lapses after ttlSeconds)",
    )
    def post(self, request): ...


class SubscriptionHeartbeat(_Doc):
    @extend_schema(
        operation_id="subscription_heartbeat",
        request=inline_serializer(
            "SubscriptionHeartbeatBody",
            {"ttlSeconds": serializers.IntegerField(min_value=1, max_value=86400, required=False)},
        ),
        responses={**_ok(_SUBSCRIPTION_LEASE), **_errors(404)},
        tags=["workers"],
        summary="Keep a subscription alive (absent ttlSeconds: the TTL it was created with)",
    )
    def post(self, request, subscription_id): ...


class Unsubscribe(_Doc):
    @extend_schema(
        operation_id="unsubscribe",
        responses={204: None, **_errors(404)},
        tags=["workers"],
        summary="Remove a subscription before it lapses",
    )
    def delete(self, request, subscription_id): ...


class WorkerSubscriptions(_Doc):
    @extend_schema(
        operation_id="worker_subscriptions",
        responses={
            **_ok(inline_serializer("WorkerSubscriptionList", {"subscriptions": WorkerSubscription(many=True)})),
            **_errors(),
        },
        tags=["admin"],
        summary="The tenant's live worker subscriptions",
    )
    def get(self, request): ...


class ScheduleSpec(serializers.Serializer):
    cron = serializers.CharField(help_text="5 cron fields, an alias such as @hourly, or @every 30s / 5m / 1h")
    timezone = serializers.CharField(default="UTC", help_text="IANA zone the cron rule is read in")
    command = serializers.CharField(max_length=200)
    payload = serializers.JSONField(default=dict, help_text="the payload of every task (absent or null: {})")
    priority = serializers.IntegerField(min_value=0, max_value=9, default=0)
    maxAttempts = serializers.IntegerField(min_value=0, max_value=100, default=0, help_text="0: the default (5)")
    webhook = serializers.CharField(default="", allow_blank=True, help_text="result callback URL of every task")
    paused = serializers.BooleanField(default=False)


class Schedule(serializers.Serializer):
    scheduleId = serializers.UUIDField()
    tenantId = serializers.CharField()
    name = serializers.CharField()
    spec = ScheduleSpec()
    version = serializers.IntegerField(help_text="bumped by every change of the spec")
    nextRunAt = serializers.DateTimeField(allow_null=True, help_text="null while paused")
    lastRunAt = serializers.DateTimeField(allow_null=True, help_text="the last slot that created a task")
    lastTaskId = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField(help_text="the last change of the spec")


_NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="a DNS label of at most 63 characters")


class Schedules(_Doc):
    @extend_schema(
        operation_id="schedules_list",
        responses={**_ok(inline_serializer("ScheduleList", {"schedules": Schedule(many=True)})), **_errors()},
        tags=["schedules"],
        summary="The tenant's recurring schedules, by name",
    )
    def get(self, request): ...


class GetSchedule(_Doc):
    @extend_schema(
        operation_id="schedule_get",
        parameters=[_NAME],
        responses={**_ok(Schedule), **_errors(404)},
        tags=["schedules"],
        summary="One recurring schedule",
    )
    def get(self, request, name): ...


class PutSchedule(_Doc):
    @extend_schema(
        operation_id="schedule_put",
        parameters=[_NAME],
        request=ScheduleSpec,
        responses={201: Schedule, **_ok(Schedule), **_errors(413, 422)},
        tags=["schedules"],
        summary="Create (201) or replace (200) a schedule; an identical spec changes nothing",
        description="400 for a malformed body (unknown field, wrong JSON type); 422 with `field` for a spec "
        "that cannot run (bad cron rule or name, unknown zone, value out of range).",
    )
    def put(self, request, name): ...


class DeleteSchedule(_Doc):
    @extend_schema(
        operation_id="schedule_delete",
        parameters=[_NAME],
        responses={204: None, **_errors()},
        tags=["schedules"],
        summary="Delete a schedule (204 also when absent); the tasks it created stay",
    )
    def delete(self, request, name): ...


class UsageDay(serializers.Serializer):
    day = serializers.DateField()
    tasksCreated = serializers.IntegerField()
    tasksCompleted = serializers.IntegerField()
    tasksFailed = serializers.IntegerField()
    tasksDeadLettered = serializers.IntegerField()
    apiRequests = serializers.IntegerField()
    payloadBytes = serializers.IntegerField(help_text="payload bytes of the tasks created")


class Quota(serializers.Serializer):
    limit = serializers.IntegerField(help_text="tasks per calendar month (UTC)")
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()
    resetsAt = serializers.DateTimeField()


class UsageReport(serializers.Serializer):
    tenant = serializers.CharField()
    quota = Quota(allow_null=True, help_text="null when the tenant has no monthly quota")
    days = UsageDay(many=True)


class Usage(_Doc):
    @extend_schema(
        operation_id="usage",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first UTC day (default: 29 days before to)"),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, description="last UTC day, at most 366 days after from (default: today)"
            ),
        ],
        responses={**_ok(UsageReport), **_errors()},
        tags=["admin"],
        summary="The tenant's usage per UTC day, and its monthly quota",
    )
    def get(self, request): ...


# Path parameters the server checks; the schema says so, so generated clients check them too.
PATH_PATTERNS = {
    "command": {"pattern": r"^[^\s/\x00-\x1f\x7f]{1,200}$", "minLength": 1, "maxLength": 200},
    "task_id": {"pattern": r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}$", "minLength": 1, "maxLength": 200},
}


def path_patterns(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the task-id and command patterns on every path."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "path" and parameter["name"] in PATH_PATTERNS:
                    parameter["schema"] = {**parameter.get("schema", {}), **PATH_PATTERNS[parameter["name"]]}
    return result
