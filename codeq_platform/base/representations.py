"""Engine dataclasses as the contract's JSON (reference §3): camelCase stops here."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from codeq_platform.engine import Task, TaskResult, jsontext


@lru_cache(maxsize=4096)  # a batch's tasks share their timestamps
def rfc3339(ms: int) -> str:
    """RFC 3339 with offset and milliseconds (``createdAt``, ``updatedAt``, ``completedAt``)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def utc_seconds(ms: int) -> str:
    """RFC 3339 in UTC, whole seconds (``leaseUntil``)."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def task_json(task: Task) -> dict[str, Any]:
    """A task as the contract shows it; zero values are emitted, absent ones omitted."""
    out: dict[str, Any] = {
        "id": task.id,
        "command": task.command,
        "payload": task.payload,
        "priority": task.priority,
        "status": task.status,
        "attempts": task.attempts,
        "maxAttempts": task.max_attempts,
        "tenantId": task.tenant,
        "createdAt": rfc3339(task.created_ms),
        "updatedAt": rfc3339(task.updated_ms),
    }
    if task.status == "IN_PROGRESS":
        out["workerId"] = task.worker_id
        out["leaseUntil"] = utc_seconds(task.lease_until_ms)
    if task.error:
        out["error"] = task.error
    if task.due_ms:
        out["runAt"] = rfc3339(task.due_ms)
    if task.finished_ms and task.state in ("completed", "failed"):
        out["completedAt"] = rfc3339(task.finished_ms)
        out["resultKey"] = f"result:{task.id}"
    if task.state == "dead":
        out["deadLetteredAt"] = rfc3339(task.finished_ms)
    for key, value in (("webhook", task.webhook), ("idempotencyKey", task.idempotency_key),
                       ("deduplicationKey", task.dedup_key)):  # fmt: skip
        if value:
            out[key] = value
    if task.progress:
        out["progress"] = jsontext.loads(task.progress)
    if task.tags:
        out["tags"] = task.tags
    return out


def artifact_url(task_id: str, name: str) -> str:
    """Where an inline artifact is served from."""
    return f"/v1/codeq/tasks/{quote(task_id, safe='')}/artifacts/{quote(name, safe='')}"


def artifact_links(task_id: str, artifacts_json: str) -> list[dict[str, str]]:
    """Artifacts as ``{name, url}``; inline ones point at the platform's artifact route."""
    if not artifacts_json:
        return []
    return [{"name": item["name"], "url": item.get("url") or artifact_url(task_id, item["name"])}
            for item in jsontext.loads(artifacts_json)]  # fmt: skip


def result_json(result: TaskResult) -> dict[str, Any]:
    """``{taskId, status, result, error, artifacts, completedAt}`` (reference §4, §7)."""
    return {
        "taskId": result.task_id,
        "status": result.status,
        "result": jsontext.loads(result.result) if result.result else None,
        "error": result.error or None,
        "artifacts": artifact_links(result.task_id, result.artifacts),
        "completedAt": rfc3339(result.completed_ms),
    }
