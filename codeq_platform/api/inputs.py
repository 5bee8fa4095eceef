"""The request shapes of the API (reference §3-§5) and what the views make of them.

Each shape is the one description of a body or query string: the endpoint frame parses requests with it
and the OpenAPI schema is generated from it (``shapes.py``). Rules across fields (``runAt`` over
``delaySeconds``, a result's ``error`` when it FAILED, the three exclusive keys) are the functions below.
Unknown fields are ignored, except where a shape is strict.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.conf import settings

from codeq_platform.api.shapes import (
    Array,
    Boolean,
    DateTime,
    Integer,
    Json,
    Object,
    Shape,
    String,
    Text,
)
from codeq_platform.engine import NewTask, jsontext
from codeq_platform.engine.core import COMMAND_RE, TASK_ID_RE, validate_command
from codeq_platform.errors import InvalidInput, InvalidSchedule, PayloadTooLarge
from codeq_platform.scheduler.services import SCHEDULE_NAME_RE, ScheduleSpec, check_schedule_payload
from codeq_platform.webhooks.guard import is_public
from codeq_platform.webhooks.models import WebhookSubscription
from codeq_platform.webhooks.services import is_callback_url

MAX_LEASE_SECONDS = 43_200
DEFAULT_LEASE_SECONDS = 300
MAX_DELAY_SECONDS = 365 * 86_400
MAX_NACK_DELAY_SECONDS = 900
MAX_CLAIM_WAIT = 30
MAX_RESULT_WAIT = 60
MAX_PROGRESS_BYTES = 64 * 1024
DEFAULT_TTL_SECONDS = 300
MAX_TTL_SECONDS = 86_400
DEFAULT_INTERVAL_SECONDS = 5
MAX_INTERVAL_SECONDS = 3600
ARTIFACT_NAME = r"^[^/\x00-\x1f\x7f]{1,200}$"
# A media type as RFC 9110 §8.3.1 writes it: type/subtype, then ``; name=value`` parameters (a value is a
# token or a quoted string). Nothing else reaches the Content-Type header an artifact is served with.
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
MEDIA_TYPE = rf'^{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|"(?:[^"\\\x00-\x1f\x7f]|\\[ -~])*"))*$'
MEDIA_TYPE_RE = re.compile(MEDIA_TYPE)
# The engine's command rule, written so that a JSON-schema (ECMA) reader means the same: its \s leaves out
# the NEL character that Python's \s counts as space.
COMMAND = COMMAND_RE.pattern.replace(r"\s", r"\s\x85")
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # text the database stores (PostgreSQL's text refuses NUL)
TASK_ID = TASK_ID_RE.pattern


def _webhook(value: str) -> str:
    if not is_callback_url(value):
        raise InvalidInput("invalid webhook url", field="webhook")
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("invalid 'contentBase64'", field="artifacts") from None
    return value


def _lease(description: str) -> Integer:
    return Integer(0, MAX_LEASE_SECONDS, default=0, description=description + " (0 or absent: 300)")


def _given(*names: str) -> dict[str, Any]:
    """The JSON schema of "each of ``names`` is a non-empty string" (what the server counts as given)."""
    return {"required": list(names), "properties": {name: {"type": "string", "minLength": 1} for name in names}}


class NewTaskBody(Shape):
    """A task to create (``POST /tasks``, or an item of ``POST /tasks/batch``). At most one of
    ``idempotencyKey``, ``deduplicationKey`` and ``taskId``."""

    rules: ClassVar[dict[str, Any]] = {"not": {"anyOf": [
        _given("idempotencyKey", "deduplicationKey"), _given("idempotencyKey", "taskId"),
        _given("deduplicationKey", "taskId")]}}  # fmt: skip

    command = String(required=True, max_length=200, pattern=COMMAND, message="invalid command",
                     description="routing name; queues match it case-insensitively")  # fmt: skip
    payload = Json(required=True, message="payload is required", description="any JSON value except null")
    priority = Integer(0, 9, default=0, message="invalid 'priority' (must be 0-9)", description="9 is highest")
    maxAttempts = Integer(0, 1000, default=0, description="charged deliveries before the DLQ (0 or absent: 5)")
    webhook = Text("uri", max_length=2048, blank=True, check=_webhook, message="invalid webhook url",
                   description="http(s) URL called back with the result")  # fmt: skip
    idempotencyKey = String(max_length=256, description="a repeat returns the first task (202)")
    deduplicationKey = String(max_length=256, description="while a task with it is pending, returns that one")
    taskId = String(max_length=200, pattern=TASK_ID, blank=True, message="invalid taskId",
                    description="a client id; creating an existing one returns it")  # fmt: skip
    runAt = DateTime(blank=True, message="invalid 'runAt' (use RFC3339)",
                     description="when it becomes ready (at most a year ahead); wins over delaySeconds")  # fmt: skip
    delaySeconds = Integer(0, MAX_DELAY_SECONDS, default=0, message="invalid 'delaySeconds' (must be >= 0)")
    tags = Array(String(min_length=1, max_length=64), max_items=32, default=[],
                 message="tags must be a list of at most 32 strings of 1-64 characters")  # fmt: skip


def new_task(body: dict[str, Any]) -> NewTask:
    """A parsed create request as the engine's ``NewTask``."""
    keys = (body["idempotencyKey"], body["deduplicationKey"], body["taskId"])
    if sum(bool(k) for k in keys) > 1:
        raise InvalidInput("idempotencyKey, deduplicationKey and taskId are mutually exclusive", field="taskId")
    run_at = body["runAt"]
    return NewTask(
        command=body["command"],
        payload=body["payload"],
        priority=body["priority"],
        max_attempts=body["maxAttempts"] or None,
        # A moment before 1970 is as past as any: ready now (reference §3).
        delay_ms=0 if run_at is not None else body["delaySeconds"] * 1000,
        run_at_ms=None if run_at is None else max(0, run_at),
        idempotency_key=body["idempotencyKey"] or "",
        dedup_key=body["deduplicationKey"] or "",
        task_id=body["taskId"] or "",
        webhook=body["webhook"] or "",
        tags=body["tags"],
    )


class CreateBatchBody(Shape):
    """Up to 100 tasks; each is checked on its own and answered in ``results`` at its index."""

    tasks = Array(Json(description="a create body, as POST /tasks"), min_items=1, max_items=100, required=True,
                  message="'tasks' must be a list of 1 to 100 tasks")  # fmt: skip


def _commands(value: list[str]) -> list[str] | None:
    for command in value:
        validate_command(command, "commands")
    return value or None


class ClaimBody(Shape):
    """What to claim: from ``commands`` (absent or empty: every command of the tenant)."""

    commands = Array(String(max_length=200, pattern=COMMAND), max_items=100, check=_commands,
                     message="invalid 'commands' (must be a list of at most 100 strings)")  # fmt: skip
    leaseSeconds = _lease("lease length")
    waitSeconds = Integer(0, MAX_CLAIM_WAIT, default=0, description="long-poll up to this many seconds")


class ClaimBatchBody(ClaimBody):
    """Up to ``count`` tasks at once."""

    count = Integer(1, 10, required=True)


class HeartbeatBody(Shape):
    extendSeconds = _lease("the lease's new length from now")


class NackBody(Shape):
    delaySeconds = Integer(0, message="invalid 'delaySeconds' (must be >= 0)",
                           description="absent: backoff; 0: now; capped at 900")  # fmt: skip
    reason = String(max_length=4096, default="", description="kept as the task's error")


class ArtifactIn(Shape):
    """A result's file: a link (``url``) or inline content the platform stores and serves."""

    name = String(required=True, min_length=1, max_length=200, pattern=ARTIFACT_NAME,
                  missing="every artifact needs a name",
                  message="invalid artifact name (1-200 characters, no '/' or control characters, unique)")  # fmt: skip
    url = String(max_length=2048, message="invalid artifact url")
    contentBase64 = Text("byte", blank=True, check=_base64, message="invalid 'contentBase64'")
    contentType = String(
        max_length=200,
        pattern=MEDIA_TYPE,
        message="invalid 'contentType' (a media type such as text/plain, at most 200 characters)",
    )


def is_media_type(value: Any) -> bool:
    """A content type that can be served as it is (one stored before it was validated may not)."""
    return isinstance(value, str) and len(value) <= 200 and MEDIA_TYPE_RE.fullmatch(value) is not None


def _artifacts(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Inline content is kept in the store and served from the platform, so every artifact comes back as
    ``{name, url}``; names are unique (each is the last segment of its URL)."""
    out, names = [], set()
    for item in items:
        name = item["name"]
        if name in names:
            raise InvalidInput(f"invalid artifact name {name[:50]!r} (1-200 characters, no '/', unique)",
                               field="artifacts")  # fmt: skip
        names.add(name)
        artifact = {"name": name}
        if item["contentBase64"] is not None:
            artifact["contentBase64"] = item["contentBase64"]
            artifact["contentType"] = item["contentType"] or "application/octet-stream"
        elif item["url"] is not None:
            artifact["url"] = item["url"]
        out.append(artifact)
    return out


class ResultBody(Shape):
    """A task's final result: ``result`` is required when COMPLETED, ``error`` when FAILED."""

    rules: ClassVar[dict[str, Any]] = {"anyOf": [
        {"properties": {"status": {"enum": ["COMPLETED"]}, "result": {"type": "object"}}, "required": ["result"]},
        {"properties": {"status": {"enum": ["FAILED"]}, "error": {"type": "string", "pattern": "\\S"}},
         "required": ["error"]}]}  # fmt: skip

    status = String(required=True, enum=("COMPLETED", "FAILED"), message="invalid status")
    result = Object(message="invalid 'result' (must be an object)")
    error = String(default="")
    artifacts = Array(Object(ArtifactIn), max_items=100, default=[], check=_artifacts,
                      description="their names are unique")  # fmt: skip


def result_report(body: dict[str, Any]) -> tuple[bool, Any, str, list[dict[str, str]]]:
    """A parsed result report: (completed?, result, error, artifacts)."""
    completed = body["status"] == "COMPLETED"
    if completed and body["result"] is None:
        raise InvalidInput("result required when status=COMPLETED", field="result")
    if not completed and not body["error"].strip():
        raise InvalidInput("error required when status=FAILED", field="error")
    return completed, body["result"], body["error"], body["artifacts"]


class ResultBatchBody(Shape):
    """Up to 100 results, each ``{taskId, ...a result body}``, answered per item."""

    results = Array(Json(description="a result body with its taskId"), min_items=1, max_items=100, required=True,
                    message="'results' must be a list of 1 to 100 results")  # fmt: skip


class ProgressBody(Shape):
    """Exactly ``{"progress": <non-null JSON>}``, at most 64 KiB compacted."""

    strict = True
    strict_message = 'body must be exactly {"progress": <non-null JSON>}'
    progress = Json(required=True, message=strict_message)


def progress_value(value: Any) -> Any:
    """A progress value, at most 64 KiB once compacted."""
    try:
        size = len(jsontext.dumps_value(value))
    except (TypeError, ValueError):
        raise InvalidInput("progress must be JSON", field="progress") from None
    if size > MAX_PROGRESS_BYTES:
        raise PayloadTooLarge("progress too large", field="progress")
    return value


class ResultQuery(Shape):
    waitSeconds = Integer(0, MAX_RESULT_WAIT, clamp=True, default=0, description="long-poll up to 60 s (more: 60)")


class CleanupBody(Shape):
    limit = Integer(1, 10_000, default=1000, description="tasks to delete in this call")
    before = DateTime(
        blank=True, message="invalid 'before' (use RFC3339)", description="finished before this (absent: now)"
    )


class QueuePage(Shape):
    state = String(required=True, enum=("ready", "delayed", "inProgress", "dlq"),
                   message="'state' must be one of ready, delayed, inProgress, dlq")  # fmt: skip
    limit = Integer(1, 500, default=100, description="page size")
    cursor = String(pattern=r"^[A-Za-z0-9_-]+$", blank=True, message="invalid cursor",
                    description="the previous page's nextCursor")  # fmt: skip


class LimitsBody(Shape):
    maxInFlight = Integer(1, 1_000_000, message="'maxInFlight' must be an integer between 1 and 1000000",
                          description="cap on the command's tasks in flight; absent or null: no cap")  # fmt: skip


class RequeueQuery(Shape):
    limit = Integer(1, 1000, default=100, description="tasks to move in this call")


class PurgeQuery(Shape):
    limit = Integer(1, 1000, default=1000, description="tasks to delete in this call")


def _callback_url(value: str) -> str:
    """An http(s) URL with a host. A literal private address is refused here already unless the
    deployment allows private targets; names are checked when each wake-up is sent (DNS can change)."""
    if not is_callback_url(value):
        raise InvalidInput("invalid callbackUrl (an http(s) URL)", field="callbackUrl")
    if not settings.CODEQ_WEBHOOK_ALLOW_PRIVATE:
        with contextlib.suppress(ValueError):  # a name, not an address
            if not is_public(ipaddress.ip_address(urlsplit(value).hostname or "")):
                raise InvalidInput("callbackUrl is not a public address", field="callbackUrl")
    return value


def _event_types(value: list[str]) -> tuple[str, ...]:
    if not value or "*" in value:
        return ()
    return tuple(dict.fromkeys(validate_command(v, "eventTypes") for v in value))


class SubscribeBody(Shape):
    """Wake-ups for a worker pool; lapses after ``ttlSeconds`` unless heartbeated."""

    rules: ClassVar[dict[str, Any]] = {"anyOf": [
        {"not": {"required": ["deliveryMode"], "properties": {"deliveryMode": {"enum": ["group"]}}}},
        _given("groupId")]}  # fmt: skip

    callbackUrl = Text("uri", required=True, max_length=2048, check=_callback_url,
                       missing="callbackUrl is required", message="invalid callbackUrl (an http(s) URL)",
                       description="wake-ups are POSTed here")  # fmt: skip
    eventTypes = Array(String(max_length=200, pattern=COMMAND), max_items=100, default=[], check=_event_types,
                       message="invalid 'eventTypes' (a list of at most 100 commands)",
                       description='commands; absent, empty or ["*"]: every command')  # fmt: skip
    ttlSeconds = Integer(1, MAX_TTL_SECONDS, default=DEFAULT_TTL_SECONDS)
    deliveryMode = String(enum=("fanout", "group", "hash"), blank=True, default="fanout",
                          message="invalid 'deliveryMode' (fanout, group or hash)")  # fmt: skip
    groupId = String(max_length=200, default="", description="required for deliveryMode=group")
    minIntervalSeconds = Integer(1, MAX_INTERVAL_SECONDS, default=DEFAULT_INTERVAL_SECONDS)


class SubscriptionHeartbeatBody(Shape):
    ttlSeconds = Integer(1, MAX_TTL_SECONDS, default=0, description="absent: the TTL it was created with")


class ScheduleBody(Shape):
    """A schedule's spec, strict as codeQ's: an unknown field or a value of the wrong JSON type is a malformed
    body (400); a spec that cannot run (a bad cron rule, an unknown zone, a value out of range) is 422."""

    strict = True
    field_message = "invalid body: '{name}' must be {noun}"
    cron = String(default="", description="5 cron fields, an alias such as @hourly, or @every 30s / 5m / 1h")
    timezone = String(default="", description="IANA zone the cron rule is read in (absent: UTC)")
    command = String(default="")
    payload = Json(
        default=None, check=check_schedule_payload, description="the payload of every task (absent or null: {})"
    )
    priority = Integer(0, 9, default=0, error=InvalidSchedule)
    maxAttempts = Integer(0, 100, default=0, error=InvalidSchedule, description="0: the default (5)")
    webhook = String(default="", description="result callback URL of every task")
    paused = Boolean(default=False)


def schedule_spec(body: dict[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(
        cron=body["cron"], time_zone=body["timezone"] or "UTC", command=body["command"],
        payload=body["payload"] if body["payload"] is not None else {}, priority=body["priority"],
        max_attempts=body["maxAttempts"], webhook=body["webhook"], paused=body["paused"],
    )  # fmt: skip


def schedule_name(name: str) -> bool:
    """Whether ``name`` can be a schedule's: any other (a NUL, say) is never stored, nor sent to the database."""
    return SCHEDULE_NAME_RE.fullmatch(name) is not None


class TokenBody(Shape):
    """A token to issue."""

    name = String(required=True, min_length=1, max_length=100, pattern=PRINTABLE)
    role = String(required=True, enum=("producer", "worker", "admin"))
    expiresInDays = Integer(1, 3650, description="absent: it never expires")


EVENTS = tuple(WebhookSubscription.Event.values)


class WebhookBody(Shape):
    """A webhook subscription: ``events`` sent to ``url``, for ``commands`` (empty: every command)."""

    url = Text("uri", required=True, max_length=2000)
    events = Array(String(enum=EVENTS), required=True, min_items=1, message=f"events must be 1 or more of {EVENTS}")
    commands = Array(String(max_length=200, pattern=COMMAND), default=[],
                     message="commands must be a list of commands (1-200 characters, no space or '/')")  # fmt: skip


class WebhookPatchBody(Shape):
    """The fields to change; absent or null ones stay as they are."""

    url = Text("uri", max_length=2000)
    events = Array(String(enum=EVENTS), min_items=1, message=f"events must be 1 or more of {EVENTS}")
    commands = Array(String(max_length=200, pattern=COMMAND),
                     message="commands must be a list of commands (1-200 characters, no space or '/')")  # fmt: skip
    active = Boolean(description="true clears pausedReason")


class RotateBody(Shape):
    graceSeconds = Integer(0, 30 * 86_400, default=86_400, description="how long the old secret keeps signing")


class DeliveryPage(Shape):
    limit = Integer(1, 100, default=20, description="page size")
    cursor = String(pattern=r"^[0-9]{1,16}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", blank=True,
                    default="", message="invalid cursor", description="the previous page's nextCursor")  # fmt: skip
