"""Validation of request bodies and query strings against the contract (reference §3-§5).

Each reader takes the decoded JSON and returns plain values for the engine, or raises InvalidInput
naming the field, with the contract's message where it names one. Unknown fields are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from codeq_platform.engine import NewTask, jsontext
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput, InvalidSchedule, PayloadTooLarge
from codeq_platform.scheduler.services import ScheduleSpec
from codeq_platform.webhooks.services import is_callback_url

MAX_LEASE_SECONDS = 43_200
DEFAULT_LEASE_SECONDS = 300
MAX_DELAY_SECONDS = 365 * 86_400
MAX_NACK_DELAY_SECONDS = 900
ARTIFACT_NAME_RE = re.compile(r"^[^/\x00-\x1f\x7f]{1,200}$")


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("invalid body")
    return data


def batch(data: Any, name: str, noun: str) -> list[Any]:
    """A batch body's list ``name``: 1 to 100 items."""
    items = require_object(data).get(name)
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        raise InvalidInput(f"'{name}' must be a list of 1 to 100 {noun}", field=name)
    return items


def integer(data: dict[str, Any], name: str, default: int, low: int, high: int, message: str = "") -> int:
    """An optional JSON integer in [low, high]; absent or null gives ``default``."""
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(message or f"invalid '{name}' (must be an integer from {low} to {high})", field=name)
    return value


def string(data: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidInput(f"invalid '{name}' (must be a string of at most {max_length} characters)", field=name)
    return value


def seconds(data: dict[str, Any], name: str, default: int = DEFAULT_LEASE_SECONDS) -> int:
    """A lease length: 1-43200 s; 0 or absent gives the default (300 s)."""
    return integer(data, name, default, 0, MAX_LEASE_SECONDS) or default


def rfc3339_ms(value: Any, name: str, message: str) -> int:
    if not isinstance(value, str):
        raise InvalidInput(message, field=name)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(message, field=name) from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise InvalidInput(message, field=name)
    return int(parsed.timestamp() * 1000)


def webhook_url(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not is_callback_url(value):
        raise InvalidInput("invalid webhook url", field="webhook")
    return value


def new_task(data: Any) -> NewTask:
    """A create request (``POST /tasks`` or one item of a batch)."""
    data = require_object(data)
    command = data.get("command")
    if not isinstance(command, str):
        raise InvalidInput("invalid command", field="command")
    validate_command(command)
    if "payload" not in data or data["payload"] is None:
        raise InvalidInput("payload is required", field="payload")
    run_at_ms = None
    delay_ms = 0
    if data.get("runAt") not in (None, ""):
        # A moment before 1970 is as past as any: ready now (reference §3).
        run_at_ms = max(0, rfc3339_ms(data["runAt"], "runAt", "invalid 'runAt' (use RFC3339)"))
    else:
        delay = integer(data, "delaySeconds", 0, 0, MAX_DELAY_SECONDS, "invalid 'delaySeconds' (must be >= 0)")
        delay_ms = delay * 1000
    tags = data.get("tags") or []
    if not isinstance(tags, list):
        raise InvalidInput("invalid 'tags' (must be a list of strings)", field="tags")
    spec = NewTask(
        command=command,
        payload=data["payload"],
        priority=integer(data, "priority", 0, 0, 9, "invalid 'priority' (must be 0-9)"),
        max_attempts=integer(data, "maxAttempts", 0, 0, 1000) or None,
        delay_ms=delay_ms,
        run_at_ms=run_at_ms,
        idempotency_key=string(data, "idempotencyKey", 256),
        dedup_key=string(data, "deduplicationKey", 256),
        task_id=string(data, "taskId", 200),
        webhook=webhook_url(data.get("webhook")),
        tags=tags,
    )
    if sum(bool(k) for k in (spec.idempotency_key, spec.dedup_key, spec.task_id)) > 1:
        raise InvalidInput("idempotencyKey, deduplicationKey and taskId are mutually exclusive", field="taskId")
    return spec


def commands(data: dict[str, Any]) -> list[str] | None:
    """The claim's ``commands``; None when absent or empty (claim from every command)."""
    value = data.get("commands")
    if value is None or value == []:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value) or len(value) > 100:
        raise InvalidInput("invalid 'commands' (must be a list of at most 100 strings)", field="commands")
    for command in value:
        validate_command(command, "commands")
    return value


def artifacts(value: Any) -> list[dict[str, str]]:
    """Result artifacts: each ``{name, url | contentBase64, contentType}``; inline content is kept
    in the store and served from the platform, so every artifact comes back as ``{name, url}``."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise InvalidInput("invalid 'artifacts' (must be a list)", field="artifacts")
    out, names = [], set()
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise InvalidInput("every artifact needs a name", field="artifacts")
        name = item["name"]
        if not ARTIFACT_NAME_RE.match(name) or name in names:
            # the name is the last segment of the artifact's URL, and the key it is served by
            raise InvalidInput(f"invalid artifact name {name[:50]!r} (1-200 characters, no '/', unique)",
                               field="artifacts")  # fmt: skip
        names.add(name)
        artifact = {"name": name}
        if item.get("contentBase64") is not None:
            content = item["contentBase64"]
            try:
                base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise InvalidInput("invalid 'contentBase64'", field="artifacts") from None
            content_type = item.get("contentType")
            if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 200):
                raise InvalidInput("invalid 'contentType' (a string of at most 200 characters)", field="artifacts")
            artifact["contentBase64"] = content
            artifact["contentType"] = content_type or "application/octet-stream"
        elif item.get("url") is not None:
            if not isinstance(item["url"], str) or len(item["url"]) > 2048:
                raise InvalidInput("invalid artifact url", field="artifacts")
            artifact["url"] = item["url"]
        out.append(artifact)
    return out


def result_report(data: Any) -> tuple[bool, Any, str, list[dict[str, str]]]:
    """A result report: (completed?, result, error, artifacts)."""
    data = require_object(data)
    status = data.get("status")
    if status not in ("COMPLETED", "FAILED"):
        raise InvalidInput("invalid status", field="status")
    result = data.get("result")
    error = data.get("error")
    if status == "COMPLETED":
        if result is None:
            raise InvalidInput("result required when status=COMPLETED", field="result")
        if not isinstance(result, dict):
            raise InvalidInput("invalid 'result' (must be an object)", field="result")
    if status == "FAILED" and (not isinstance(error, str) or not error):
        raise InvalidInput("error required when status=FAILED", field="error")
    if error is not None and not isinstance(error, str):
        raise InvalidInput("invalid 'error' (must be a string)", field="error")
    return status == "COMPLETED", result, error or "", artifacts(data.get("artifacts"))


def query_int(request_get: Any, name: str, default: int, low: int, high: int, clamp: bool = False) -> int:
    raw = request_get.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"invalid '{name}' (must be an integer)", field=name) from None
    if clamp:
        value = max(low, min(value, high))
    if not low <= value <= high:
        raise InvalidInput(f"invalid '{name}' (must be from {low} to {high})", field=name)
    return value


def progress_body(data: Any, limit: int = 64 * 1024) -> Any:
    data = require_object(data)
    if set(data) != {"progress"} or data["progress"] is None:
        raise InvalidInput('body must be exactly {"progress": <non-null JSON>}', field="progress")
    try:
        size = len(jsontext.dumps_value(data["progress"]))
    except (TypeError, ValueError):
        raise InvalidInput("progress must be JSON", field="progress") from None
    if size > limit:
        raise PayloadTooLarge("progress too large", field="progress")
    return data["progress"]


def _holds_nul(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


SCHEDULE_FIELDS = frozenset({"cron", "timezone", "command", "payload", "priority", "maxAttempts", "webhook", "paused"})


def schedule_spec(data: Any) -> ScheduleSpec:
    """A schedule's spec (``PUT /admin/schedules/{name}``), strict as codeQ's: an unknown field or a value
    of the wrong JSON type is a malformed body (400); whether the values can run is the service's check
    (422)."""
    data = require_object(data)
    unknown = sorted(set(data) - SCHEDULE_FIELDS)
    if unknown:
        raise InvalidInput(f"invalid body: unknown field '{unknown[0]}'", field=unknown[0])

    def typed(name: str, kind: type | tuple[type, ...], noun: str, default: Any) -> Any:
        value = data.get(name)
        if value is None:
            return default
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidInput(f"invalid body: '{name}' must be {noun}", field=name)
        return value

    payload = data["payload"] if data.get("payload") is not None else {}
    try:
        jsontext.dumps_value(payload)
    except (TypeError, ValueError):
        raise InvalidSchedule(f"payload nests more than {jsontext.MAX_DEPTH} levels", field="payload") from None
    if _holds_nul(payload):
        # PostgreSQL's jsonb cannot hold the NUL character; a task's payload (in the KV store) can.
        raise InvalidSchedule("the payload of a schedule cannot hold the NUL character", field="payload")
    return ScheduleSpec(
        cron=typed("cron", str, "a string", ""),
        time_zone=typed("timezone", str, "a string", "") or "UTC",
        command=typed("command", str, "a string", ""),
        payload=payload,
        priority=typed("priority", int, "an integer", 0),
        max_attempts=typed("maxAttempts", int, "an integer", 0),
        webhook=typed("webhook", str, "a string", ""),
        paused=typed("paused", bool, "true or false", False),
    )
