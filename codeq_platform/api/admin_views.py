"""The contract's ``/admin/*`` queue and DLQ endpoints (reference §5), plus purge; admins only.

Every action that changes tasks writes an audit entry naming the token that did it.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import inputs, outputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, Values, endpoint
from codeq_platform.api.errors import error_response, json_response
from codeq_platform.base import db, kv
from codeq_platform.base.representations import rfc3339, task_json
from codeq_platform.engine import QueueSettings
from codeq_platform.engine.core import validate_command
from tenants import services
from tenants.models import Tenant

TAGS = ("admin",)


async def _audit(principal: Principal, action: str, target: str = "", task_ids: Iterable[str] = (),
                 detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    await db.run(
        services.record_audit,
        tenant=Tenant(pk=principal.tenant_id), actor=principal.actor, action=action, target=target,
        task_ids=list(task_ids), detail=detail,
    )  # fmt: skip


def _encode_cursor(cursor: str | None) -> str | None:
    return base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=") if cursor else None


def _decode_cursor(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.InvalidInput("invalid cursor", field="cursor") from None


@endpoint(
    "GET", roles=ADMIN, operation="admin", tags=TAGS, responses={200: outputs.QUEUES}, summary="Every queue's counts"
)
async def queues(request: HttpRequest, principal: Principal) -> HttpResponse:
    engine = kv.async_engine()
    tenant = principal.tenant_slug
    out: dict[str, int] = {}
    for command in await engine.commands(tenant):
        stats = await engine.queue_stats(tenant, command)
        base = f"codeq:q:{command}:{tenant}"
        for priority, depth in enumerate(stats.ready_by_priority):  # all ten, as codeQ lists them
            out[f"{base}:pending:{priority}"] = depth
        out[f"{base}:inprog"] = stats.in_flight
        out[f"{base}:delayed"] = stats.delayed
        out[f"{base}:dlq"] = stats.dlq
        if stats.paused:
            out[f"{base}:paused"] = 1
        if stats.max_in_flight is not None:
            out[f"{base}:maxInFlight"] = stats.max_in_flight
    return json_response(out)


@endpoint(
    "GET",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={200: outputs.QueueDetail},
    raises=(400,),
    summary="One command's depths and counters",
)
async def queue_detail(request: HttpRequest, principal: Principal, command: str) -> HttpResponse:
    stats = await kv.async_engine().queue_stats(principal.tenant_slug, validate_command(command))
    oldest = None
    if stats.oldest_ready_ms is not None:
        oldest = max(0, int(time.time() * 1000) - stats.oldest_ready_ms) // 1000
    return json_response({
        "command": stats.command, "ready": stats.ready, "delayed": stats.delayed,
        "inProgress": stats.in_flight, "dlq": stats.dlq,
        "readyByPriority": {str(p): n for p, n in enumerate(stats.ready_by_priority)},
        "completed": stats.completed, "failed": stats.failed, "deadLettered": stats.dead,
        "created": stats.created, "oldestReadyAgeSeconds": oldest,
        "paused": stats.paused, "maxInFlight": stats.max_in_flight,
    })  # fmt: skip


def _settings_json(settings: QueueSettings) -> Values:
    return {"command": settings.command, "paused": settings.paused, "maxInFlight": settings.max_in_flight}


@endpoint(
    "POST",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={200: outputs.QueueSettings},
    raises=(400,),
    summary="Pause a command: claims skip it, enqueues are still taken",
)
async def pause_queue(request: HttpRequest, principal: Principal, command: str) -> HttpResponse:
    settings = await kv.async_engine().pause_queue(principal.tenant_slug, validate_command(command))
    await _audit(principal, "queue.pause", settings.command)
    return json_response(_settings_json(settings))


@endpoint(
    "POST",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={200: outputs.QueueSettings},
    raises=(400,),
    summary="Resume a paused command",
)
async def resume_queue(request: HttpRequest, principal: Principal, command: str) -> HttpResponse:
    settings = await kv.async_engine().resume_queue(principal.tenant_slug, validate_command(command))
    await _audit(principal, "queue.resume", settings.command)
    return json_response(_settings_json(settings))


@endpoint(
    "PUT",
    roles=ADMIN,
    operation="admin",
    body=inputs.LimitsBody,
    tags=TAGS,
    responses={200: outputs.QueueSettings},
    raises=(400,),
    summary="Set or lift a command's cap on tasks in flight",
)
async def queue_limits(request: HttpRequest, principal: Principal, command: str, body: Values) -> HttpResponse:
    """The cap counts leased tasks across the tenant's shards, an equal share in each, so it is at least
    the tenant's shard count. Tasks already in flight above a new cap keep their leases."""
    cap = body["maxInFlight"]
    settings = await kv.async_engine().limit_queue(principal.tenant_slug, validate_command(command), cap)
    await _audit(principal, "queue.limits", settings.command, detail={"maxInFlight": settings.max_in_flight})
    return json_response(_settings_json(settings))


@endpoint(
    "GET",
    roles=ADMIN,
    operation="admin",
    query=inputs.QueuePage,
    tags=TAGS,
    responses={200: outputs.TaskPage},
    summary="A page of a command's tasks in one state",
)
async def queue_tasks(request: HttpRequest, principal: Principal, command: str, query: Values) -> HttpResponse:
    cmd = validate_command(command)
    state, limit, cursor = query["state"], query["limit"], _decode_cursor(query["cursor"])
    engine = kv.async_engine()
    tenant = principal.tenant_slug
    if state == "ready":
        page = await engine.ready(tenant, cmd, limit=limit, cursor=cursor)
    elif state == "delayed":
        page = await engine.delayed(tenant, limit=limit, cursor=cursor, command=cmd)
    elif state == "inProgress":
        page = await engine.leases(tenant, limit=limit, cursor=cursor, command=cmd)
    else:
        page = await engine.dlq(tenant, cmd, limit=limit, cursor=cursor)
    body: Values = {"tasks": [task_json(t) for t in page.tasks]}
    if page.next_cursor:
        body["nextCursor"] = _encode_cursor(page.next_cursor)
    return json_response(body)


@endpoint(
    "POST",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={200: outputs.Task},
    raises=(404, 409),
    summary="Requeue a dead-lettered task",
)
async def requeue(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        task = await kv.async_engine().replay(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    await _audit(principal, "dlq.requeue", task.command, [task.id])
    return json_response(task_json(task))


@endpoint(
    "POST",
    roles=ADMIN,
    operation="admin",
    query=inputs.RequeueQuery,
    tags=TAGS,
    responses={200: outputs.Requeued},
    summary="Requeue a command's DLQ, oldest first",
)
async def requeue_command(request: HttpRequest, principal: Principal, command: str, query: Values) -> HttpResponse:
    cmd = validate_command(command)
    moved = await kv.async_engine().replay_all(principal.tenant_slug, cmd, limit=query["limit"])
    if moved.count:
        await _audit(principal, "dlq.requeue_all", command, detail={"requeued": moved.count})
    return json_response({"requeued": moved.count, "remaining": moved.remaining})


@endpoint(
    "DELETE",
    roles=ADMIN,
    operation="admin",
    query=inputs.PurgeQuery,
    tags=TAGS,
    responses={200: outputs.Purged},
    summary="Delete a command's dead-lettered tasks",
)
async def purge_dlq(request: HttpRequest, principal: Principal, command: str, query: Values) -> HttpResponse:
    cmd = validate_command(command)
    moved = await kv.async_engine().purge_dlq(principal.tenant_slug, cmd, limit=query["limit"])
    if moved.count:
        await _audit(principal, "dlq.purge", command, detail={"deleted": moved.count})
    return json_response({"deleted": moved.count, "remaining": moved.remaining})


@endpoint(
    "DELETE",
    roles=ADMIN,
    operation="admin",
    tags=TAGS,
    responses={204: None},
    raises=(404, 409),
    summary="Delete a task",
)
async def delete_task(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        await kv.async_engine().delete(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    await _audit(principal, "task.delete", task_id, [task_id])
    return HttpResponse(status=204)


@endpoint(
    "POST",
    roles=ADMIN,
    operation="admin",
    body=inputs.CleanupBody,
    tags=TAGS,
    responses={200: outputs.CleanupAnswer},
    summary="Delete the tasks whose retention ends at or before a time",
)
async def cleanup(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    """codeQ's cleanup: delete the tasks whose retention ends at or before ``before`` (default now),
    that is finished tasks (and dead-lettered ones) at least their retention older than it. It
    anticipates the retention job; it never deletes a task its retention still keeps."""
    limit = body["limit"]
    before_ms = body["before"] if body["before"] is not None else int(time.time() * 1000)
    finished_s, dead_s = await db.run(lambda: Tenant.objects.values_list(
        "result_retention_seconds", "dlq_retention_seconds").get(pk=principal.tenant_id))  # fmt: skip
    # A task goes when its retention ends at or before ``before``: it finished (died) at or before
    # ``before`` minus the retention, so strictly before one ms later.
    moved = await kv.async_engine().trim(principal.tenant_slug, limit=limit, as_of_ms=before_ms + 1,
                                         finished_older_than_ms=finished_s * 1000,
                                         dead_older_than_ms=dead_s * 1000)  # fmt: skip
    if moved.count:
        await _audit(principal, "tasks.cleanup", detail={"deleted": moved.count, "before": rfc3339(before_ms)})
    return json_response({"deleted": moved.count, "before": rfc3339(before_ms), "limit": limit})
