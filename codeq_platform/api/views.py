"""The task endpoints of the codeQ contract (reference §4, §5): async, one engine call each.

Ownership answers follow the contract: heartbeat, abandon, nack and progress say 403 ``not-owner``
whenever the caller does not hold the lease (also when nobody does); only ``result`` and
``progress`` tell a task without a holder apart (409 ``not-in-progress``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib

import orjson
from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import docs, inputs, quota
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import PRODUCE, READ, WORK, endpoint, read_json
from codeq_platform.api.errors import error_body, error_response, json_response
from codeq_platform.api.wakeups import hub
from codeq_platform.base import kv
from codeq_platform.base.representations import artifact_url, result_json, rfc3339, task_json
from codeq_platform.engine import NewTask, Report

MAX_CLAIM_WAIT = 30
MAX_RESULT_WAIT = 60
NO_CONTENT = 204


def _no_content() -> HttpResponse:
    return HttpResponse(status=NO_CONTENT)


def _max_live(principal: Principal) -> int:
    return -(-principal.max_queued_tasks // principal.shards) if principal.max_queued_tasks else 0


async def _enqueue(principal: Principal, spec: NewTask):
    engine = kv.async_engine()
    return await engine.enqueue(principal.tenant_slug, spec, max_live=_max_live(principal),
                                payload_limit=principal.max_payload_bytes)  # fmt: skip


@endpoint(methods=("POST",), roles=PRODUCE, operation="create", doc=docs.CreateTask)
async def create_task(request: HttpRequest, principal: Principal) -> HttpResponse:
    spec = inputs.new_task(read_json(request, principal.max_body_bytes))
    used = await quota.used_before(principal, 1)
    out = await _enqueue(principal, spec)
    return quota.add_headers(json_response(task_json(out.task), 202), principal, used, int(out.created))


@endpoint(methods=("POST",), roles=PRODUCE, operation="create", doc=docs.CreateBatch)
async def create_batch(request: HttpRequest, principal: Principal) -> HttpResponse:
    items = inputs.batch(read_json(request, principal.max_body_bytes), "tasks", "tasks")
    results: list[dict | None] = [None] * len(items)
    specs, where = [], []
    for i, item in enumerate(items):
        try:
            specs.append(inputs.new_task(item))
            where.append(i)
        except errors.InvalidInput as exc:
            results[i] = {"error": exc.message}
    used = await quota.used_before(principal, len(specs))
    created = 0
    if specs:
        engine = kv.async_engine()
        outcomes = await engine.enqueue_batch(principal.tenant_slug, specs, max_live=_max_live(principal),
                                              payload_limit=principal.max_payload_bytes)  # fmt: skip
        for i, outcome in zip(where, outcomes, strict=True):
            if isinstance(outcome, errors.CodeqError):
                results[i] = {"error": outcome.message}
            else:
                results[i] = {"task": task_json(outcome.task)}
                created += outcome.created
    return quota.add_headers(json_response({"results": results}), principal, used, created)


async def _claim(principal: Principal, data: dict, count: int) -> list:
    engine = kv.async_engine()
    tenant = principal.tenant_slug
    commands = inputs.commands(data)
    lease_ms = inputs.seconds(data, "leaseSeconds") * 1000
    wait = inputs.integer(data, "waitSeconds", 0, 0, MAX_CLAIM_WAIT)
    targets = commands or await engine.commands(tenant)
    if targets:
        tasks = await engine.claim(tenant, principal.worker_id, targets[:100], lease_ms=lease_ms, count=count)
        if tasks or not wait:
            return tasks
    elif not wait:
        return []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    wakeups = hub()
    while True:
        with wakeups.waiting(tenant, commands) as woken:
            if commands is None:
                targets = await engine.commands(tenant)
            if targets:
                tasks = await engine.claim(tenant, principal.worker_id, targets[:100], lease_ms=lease_ms, count=count)
                if tasks:
                    return tasks
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=min(remaining, 1.0))


@endpoint(methods=("POST",), roles=WORK, operation="claim", doc=docs.Claim)
async def claim(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = inputs.require_object(read_json(request, principal.max_body_bytes))
    tasks = await _claim(principal, data, 1)
    return json_response(task_json(tasks[0])) if tasks else _no_content()


@endpoint(methods=("POST",), roles=WORK, operation="claim", doc=docs.ClaimBatch)
async def claim_batch(request: HttpRequest, principal: Principal) -> HttpResponse:
    data = inputs.require_object(read_json(request, principal.max_body_bytes))
    if data.get("count") is None:
        raise errors.InvalidInput("'count' is required", field="count")
    count = inputs.integer(data, "count", 1, 1, 10)
    tasks = await _claim(principal, data, count)
    return json_response({"tasks": [task_json(t) for t in tasks]}) if tasks else _no_content()


def _holder_only(exc: errors.CodeqError) -> HttpResponse:
    """heartbeat/abandon/nack: no lease of the caller's is 403 not-owner, whoever holds it."""
    if isinstance(exc, errors.NotOwner | errors.NotInProgress):
        return error_response(errors.NotOwner("not-owner"))
    if isinstance(exc, errors.NotFound):
        return error_response(exc, "not-found")
    return error_response(exc)


@endpoint(methods=("POST",), roles=WORK, operation="heartbeat", doc=docs.Heartbeat)
async def heartbeat(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    data = inputs.require_object(read_json(request, principal.max_body_bytes))
    lease_ms = inputs.seconds(data, "extendSeconds") * 1000
    try:
        await kv.async_engine().heartbeat(principal.tenant_slug, task_id, principal.worker_id, lease_ms=lease_ms)
    except errors.CodeqError as exc:
        return _holder_only(exc)
    return json_response({"ok": True})


@endpoint(methods=("POST",), roles=WORK, operation="abandon", doc=docs.Abandon)
async def abandon(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    read_json(request, principal.max_body_bytes)
    try:
        await kv.async_engine().abandon(principal.tenant_slug, task_id, principal.worker_id)
    except errors.CodeqError as exc:
        return _holder_only(exc)
    return json_response({"status": "requeued"})


@endpoint(methods=("POST",), roles=WORK, operation="nack", doc=docs.Nack)
async def nack(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    data = inputs.require_object(read_json(request, principal.max_body_bytes))
    delay = data.get("delaySeconds")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
            raise errors.InvalidInput("invalid 'delaySeconds' (must be >= 0)", field="delaySeconds")
        delay = min(delay, inputs.MAX_NACK_DELAY_SECONDS)
    reason = inputs.string(data, "reason", 4096)
    try:
        out = await kv.async_engine().nack(principal.tenant_slug, task_id, principal.worker_id,
                                           delay_ms=None if delay is None else delay * 1000, reason=reason)  # fmt: skip
    except errors.CodeqError as exc:
        return _holder_only(exc)
    if out.dead:
        return json_response({"status": "dlq", "delaySeconds": 0})
    return json_response({"status": "requeued", "delaySeconds": -(-out.delay_ms // 1000)})


def _answer(task_id: str, settled, result, error: str, artifacts: list[dict[str, str]]) -> dict:
    """The result answer built from what was just stored (no second read)."""
    return {
        "taskId": task_id,
        "status": settled.task.status,
        "result": result,
        "error": error or None,
        "artifacts": [{"name": a["name"], "url": a.get("url") or artifact_url(task_id, a["name"])} for a in artifacts],
        "completedAt": rfc3339(settled.task.finished_ms),
    }


async def _stored_answer(principal: Principal, task_id: str) -> dict:
    """A retried report: answer with what the first one stored."""
    _, stored = await kv.async_engine().get_result(principal.tenant_slug, task_id)
    return result_json(stored)


async def _report(principal: Principal, task_id: str, data: dict) -> dict:
    completed, result, error, artifacts = inputs.result_report(data)
    engine = kv.async_engine()
    tenant, worker = principal.tenant_slug, principal.worker_id
    if completed:
        settled = await engine.complete(tenant, task_id, worker, result, error=error, artifacts=artifacts or None)
    else:
        settled = await engine.fail(tenant, task_id, worker, error, result=result, artifacts=artifacts or None)
    if settled.repeated:
        return await _stored_answer(principal, task_id)
    return _answer(task_id, settled, result, error, artifacts)


def _report_error(exc: errors.CodeqError) -> tuple[str, errors.CodeqError]:
    if isinstance(exc, errors.NotFound):
        return "task not found", exc
    return exc.message, exc


@endpoint(methods=("POST",), roles=WORK, operation="result", doc=docs.Result)
async def result(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    data = read_json(request, principal.max_body_bytes)
    try:
        return json_response(await _report(principal, task_id, data))
    except (errors.NotFound, errors.NotOwner, errors.NotInProgress) as exc:
        message, exc = _report_error(exc)
        return error_response(exc, message)


@endpoint(methods=("POST",), roles=WORK, operation="result", doc=docs.ResultBatch)
async def result_batch(request: HttpRequest, principal: Principal) -> HttpResponse:
    items = inputs.batch(read_json(request, principal.max_body_bytes), "results", "results")
    out: list[dict] = [{} for _ in items]
    reports, parsed, where = [], [], []
    for i, item in enumerate(items):
        task_id = item.get("taskId") if isinstance(item, dict) else None
        if not isinstance(task_id, str) or not task_id:
            out[i] = {"taskId": task_id, "error": "taskId is required"}
            continue
        try:
            completed, result, error, artifacts = inputs.result_report(item)
        except errors.CodeqError as exc:
            out[i] = {"taskId": task_id, "error": exc.message}
            continue
        reports.append(Report(task_id, completed, result, error, artifacts or None))
        parsed.append((result, error, artifacts))
        where.append(i)
    if reports:
        settled = await kv.async_engine().settle_batch(principal.tenant_slug, principal.worker_id, reports)
        for i, report, (result, error, artifacts), outcome in zip(where, reports, parsed, settled, strict=True):
            if isinstance(outcome, errors.CodeqError):
                out[i] = {"taskId": report.task_id, "error": _report_error(outcome)[0]}
            elif outcome.repeated:
                out[i] = {"taskId": report.task_id, "result": await _stored_answer(principal, report.task_id)}
            else:
                answer = _answer(report.task_id, outcome, result, error, artifacts)
                out[i] = {"taskId": report.task_id, "result": answer}
    return json_response({"results": out})


@endpoint(methods=("POST",), roles=WORK, operation="progress", doc=docs.Progress)
async def progress(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    value = inputs.progress_body(read_json(request, principal.max_body_bytes))
    try:
        await kv.async_engine().progress(principal.tenant_slug, task_id, principal.worker_id, value)
    except errors.NotFound as exc:
        return error_response(exc, "not-found")
    return json_response({"ok": True})


@endpoint(methods=("GET",), roles=READ, operation="get", doc=docs.GetTask)
async def get_task(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        task = await kv.async_engine().get_task(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    return json_response(task_json(task))


@endpoint(methods=("GET",), roles=READ, operation="get", doc=docs.GetResult)
async def get_result(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    wait = inputs.query_int(request.GET, "waitSeconds", 0, 0, MAX_RESULT_WAIT, clamp=True)
    engine = kv.async_engine()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = 0.05
    while True:
        try:
            task, stored = await engine.get_result(principal.tenant_slug, task_id)
        except errors.NotFound as exc:
            return error_response(exc, "task not found")
        if stored is not None:
            return json_response({"task": task_json(task), "result": result_json(stored)})
        remaining = deadline - loop.time()
        if remaining <= 0:
            return json_response(error_body("result not found", errors.NotFound.code), 404)
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.5)


@endpoint(methods=("GET",), roles=READ, operation="get", doc=docs.GetArtifact)
async def get_artifact(request: HttpRequest, principal: Principal, task_id: str, name: str) -> HttpResponse:
    _, stored = await kv.async_engine().get_result(principal.tenant_slug, task_id)
    for item in orjson.loads(stored.artifacts) if stored and stored.artifacts else ():
        if item["name"] == name and "contentBase64" in item:
            return HttpResponse(base64.b64decode(item["contentBase64"]), content_type=item["contentType"])
    return json_response(error_body("artifact not found", errors.NotFound.code), 404)


@endpoint(methods=("POST",), roles=PRODUCE, operation="cancel", doc=docs.Cancel)
async def cancel(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        task = await kv.async_engine().cancel(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    except errors.TaskInProgress as exc:
        return error_response(exc, "task_in_progress: a worker holds it; it can be cancelled once given back")
    except errors.TaskFinished as exc:
        return error_response(exc, "task_finished")
    return json_response(task_json(task))
