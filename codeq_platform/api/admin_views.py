"""The contract's ``/admin/*`` queue and DLQ endpoints (reference §5), plus purge; admins only.

Every action that changes tasks writes an audit entry naming the token that did it.
"""

from __future__ import annotations

import base64
import binascii
import re
import time

from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import docs, inputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, endpoint, read_json
from codeq_platform.api.errors import error_response, json_response
from codeq_platform.base import db, kv
from codeq_platform.base.representations import rfc3339, task_json
from codeq_platform.engine.core import validate_command
from tenants import services
from tenants.models import Tenant

STATES = ("ready", "delayed", "inProgress", "dlq")


async def _audit(principal: Principal, action: str, target: str = "", task_ids=(), detail=None) -> None:
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
    if not re.fullmatch(r"[A-Za-z0-9_-]+", raw):
        raise errors.InvalidInput("invalid cursor", field="cursor")
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.InvalidInput("invalid cursor", field="cursor") from None


@endpoint(methods=("GET",), roles=ADMIN, operation="admin", doc=docs.Queues)
async def queues(request: HttpRequest, principal: Principal) -> HttpResponse:
    engine = kv.async_engine()
    tenant = principal.tenant_slug
    out: dict[str, int] = {}
    for command in await engine.commands(tenant):
        stats = await engine.queue_stats(tenant, command)
        base = f"codeq:q:{command}:{tenant}"
        for priority, depth in enumerate(stats.ready_by_priority):
            if depth:
                out[f"{base}:pending:{priority}"] = depth
        out[f"{base}:inprog"] = stats.in_flight
        out[f"{base}:delayed"] = stats.delayed
        out[f"{base}:dlq"] = stats.dlq
    return json_response(out)


@endpoint(methods=("GET",), roles=ADMIN, operation="admin", doc=docs.QueueDetail)
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
    })  # fmt: skip


@endpoint(methods=("GET",), roles=ADMIN, operation="admin", doc=docs.QueueTasks)
async def queue_tasks(request: HttpRequest, principal: Principal, command: str) -> HttpResponse:
    cmd = validate_command(command)
    state = request.GET.get("state")
    if state not in STATES:
        raise errors.InvalidInput("'state' must be one of ready, delayed, inProgress, dlq", field="state")
    limit = inputs.query_int(request.GET, "limit", 100, 1, 500)
    cursor = _decode_cursor(request.GET.get("cursor"))
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
    body: dict = {"tasks": [task_json(t) for t in page.tasks]}
    if page.next_cursor:
        body["nextCursor"] = _encode_cursor(page.next_cursor)
    return json_response(body)


@endpoint(methods=("POST",), roles=ADMIN, operation="admin", doc=docs.Requeue)
async def requeue(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        task = await kv.async_engine().replay(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    await _audit(principal, "dlq.requeue", task.command, [task.id])
    return json_response(task_json(task))


@endpoint(methods=("POST",), roles=ADMIN, operation="admin", doc=docs.RequeueCommand)
async def requeue_command(request: HttpRequest, principal: Principal, command: str) -> HttpResponse:
    limit = inputs.query_int(request.GET, "limit", 100, 1, 1000)
    moved = await kv.async_engine().replay_all(principal.tenant_slug, validate_command(command), limit=limit)
    if moved.count:
        await _audit(principal, "dlq.requeue_all", command, detail={"requeued": moved.count})
    return json_response({"requeued": moved.count, "remaining": moved.remaining})


@endpoint(methods=("DELETE",), roles=ADMIN, operation="admin", doc=docs.PurgeDlq)
async def purge_dlq(request: HttpRequest, principal: Principal, command: str) -> HttpResponse:
    limit = inputs.query_int(request.GET, "limit", 1000, 1, 1000)
    moved = await kv.async_engine().purge_dlq(principal.tenant_slug, validate_command(command), limit=limit)
    if moved.count:
        await _audit(principal, "dlq.purge", command, detail={"deleted": moved.count})
    return json_response({"deleted": moved.count, "remaining": moved.remaining})


@endpoint(methods=("DELETE",), roles=ADMIN, operation="admin", doc=docs.DeleteTask)
async def delete_task(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        await kv.async_engine().delete(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    await _audit(principal, "task.delete", task_id, [task_id])
    return HttpResponse(status=204)


@endpoint(methods=("POST",), roles=ADMIN, operation="admin", doc=docs.Cleanup)
async def cleanup(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = inputs.require_object(read_json(request, principal.max_body_bytes))
    limit = inputs.integer(data, "limit", 1000, 1, 10_000)
    now_ms = int(time.time() * 1000)
    before_ms = now_ms
    if data.get("before") not in (None, ""):
        before_ms = inputs.rfc3339_ms(data["before"], "before", "invalid 'before' (use RFC3339)")
    # The engine counts ages on the store's clock; a caller's moment becomes an age on this host's.
    age_ms = max(now_ms - before_ms, 0)
    moved = await kv.async_engine().trim(principal.tenant_slug, finished_older_than_ms=age_ms, limit=limit)
    if moved.count:
        await _audit(principal, "tasks.cleanup", detail={"deleted": moved.count, "before": rfc3339(before_ms)})
    return json_response({"deleted": moved.count, "before": rfc3339(before_ms), "limit": limit})
