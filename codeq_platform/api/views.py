"""The task endpoints of the codeQ contract (reference §4, §5): async, one engine call each.

Ownership answers follow the contract: heartbeat, abandon, nack and progress say 403 ``not-owner``
whenever the caller does not hold the lease (also when nobody does); only ``result`` and
``progress`` tell a task without a holder apart (409 ``not-in-progress``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header

from codeq_platform import errors
from codeq_platform.api import inputs, outputs, quota
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import PRODUCE, READ, WORK, Values, endpoint
from codeq_platform.api.errors import error_body, error_response, json_response
from codeq_platform.api.recorder import WORKER_HEADERS, recorder
from codeq_platform.api.wakeups import hub
from codeq_platform.base import kv
from codeq_platform.base.representations import artifact_url, result_json, rfc3339, task_json
from codeq_platform.engine import NewTask, Report

NO_CONTENT = 204
TASKS = ("tasks",)
WORKERS = ("workers",)


def _no_content() -> HttpResponse:
    return HttpResponse(status=NO_CONTENT)


def _max_live(principal: Principal) -> int:
    return -(-principal.max_queued_tasks // principal.shards) if principal.max_queued_tasks else 0


async def _enqueue(principal: Principal, spec: NewTask) -> Any:
    engine = kv.async_engine()
    return await engine.enqueue(principal.tenant_slug, spec, max_live=_max_live(principal),
                                payload_limit=principal.max_payload_bytes)  # fmt: skip


@endpoint("POST", roles=PRODUCE, operation="create", body=inputs.NewTaskBody, tags=TASKS,
          responses={202: outputs.Task}, raises=(429,), summary="Create a task",
          description="A repeated idempotencyKey or taskId answers 202 with the first task; 429 past the "
                      "tenant's queued-task limit, or its monthly task quota (quota_exceeded). With a quota "
                      "set, X-Quota-Limit and X-Quota-Remaining say where the tenant stands.")  # fmt: skip
async def create_task(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    spec = inputs.new_task(body)
    used = await quota.used_before(principal, 1)
    out = await _enqueue(principal, spec)
    return quota.add_headers(json_response(task_json(out.task), 202), principal, used, int(out.created))


@endpoint("POST", roles=PRODUCE, operation="create", body=inputs.CreateBatchBody, tags=TASKS,
          responses={200: outputs.CreateBatchAnswer}, summary="Create up to 100 tasks")  # fmt: skip
async def create_batch(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    items = body["tasks"]
    results: list[dict[str, Any] | None] = [None] * len(items)
    specs, where = [], []
    for i, item in enumerate(items):
        try:
            specs.append(inputs.new_task(inputs.NewTaskBody.parse(item)))
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


async def _claim(request: HttpRequest, principal: Principal, body: Values, count: int) -> list[Any]:
    tasks = await _claim_tasks(principal, body, count)
    recorder.claimed(principal.tenant_slug, tasks)
    recorder.seen(principal, request.headers, claimed=len(tasks))
    return tasks


async def _claim_tasks(principal: Principal, body: Values, count: int) -> list[Any]:
    engine = kv.async_engine()
    tenant = principal.tenant_slug
    commands = body["commands"]
    lease_ms = (body["leaseSeconds"] or inputs.DEFAULT_LEASE_SECONDS) * 1000
    wait = body["waitSeconds"]
    # Without commands: whichever commands have ready work, taking turns (the engine's turn ring).
    tasks = await engine.claim(tenant, principal.worker_id, commands, lease_ms=lease_ms, count=count)
    if tasks or not wait:
        return list(tasks)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    wakeups = hub()
    while True:
        with wakeups.waiting(tenant, commands) as woken:
            tasks = await engine.claim(tenant, principal.worker_id, commands, lease_ms=lease_ms, count=count)
            if tasks:
                return list(tasks)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=min(remaining, 1.0))


@endpoint(
    "POST",
    roles=WORK,
    operation="claim",
    body=inputs.ClaimBody,
    tags=WORKERS,
    responses={200: outputs.Task, 204: None},
    summary="Claim the next task (long-poll with waitSeconds)",
    headers=WORKER_HEADERS,
)
async def claim(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    tasks = await _claim(request, principal, body, 1)
    return json_response(task_json(tasks[0])) if tasks else _no_content()


@endpoint(
    "POST",
    roles=WORK,
    operation="claim",
    body=inputs.ClaimBatchBody,
    tags=WORKERS,
    responses={200: outputs.ClaimBatchAnswer, 204: None},
    summary="Claim up to 10 tasks",
    headers=WORKER_HEADERS,
)
async def claim_batch(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    tasks = await _claim(request, principal, body, body["count"])
    return json_response({"tasks": [task_json(t) for t in tasks]}) if tasks else _no_content()


def _holder_only(exc: errors.CodeqError) -> HttpResponse:
    """heartbeat/abandon/nack: no lease of the caller's is 403 not-owner, whoever holds it."""
    if isinstance(exc, errors.NotOwner | errors.NotInProgress):
        return error_response(errors.NotOwner("not-owner"))
    if isinstance(exc, errors.NotFound):
        return error_response(exc, "not-found")
    return error_response(exc)


@endpoint(
    "POST",
    roles=WORK,
    operation="heartbeat",
    body=inputs.HeartbeatBody,
    tags=WORKERS,
    responses={200: outputs.Ok},
    raises=(404,),
    summary="Extend the lease",
    headers=WORKER_HEADERS,
)
async def heartbeat(request: HttpRequest, principal: Principal, task_id: str, body: Values) -> HttpResponse:
    lease_ms = (body["extendSeconds"] or inputs.DEFAULT_LEASE_SECONDS) * 1000
    try:
        await kv.async_engine().heartbeat(principal.tenant_slug, task_id, principal.worker_id, lease_ms=lease_ms)
    except errors.CodeqError as exc:
        return _holder_only(exc)
    recorder.seen(principal, request.headers)
    return json_response({"ok": True})


@endpoint(
    "POST",
    roles=WORK,
    operation="abandon",
    tags=WORKERS,
    responses={200: outputs.GivenBack},
    raises=(404,),
    summary="Give the task back now (attempt not charged)",
)
async def abandon(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        await kv.async_engine().abandon(principal.tenant_slug, task_id, principal.worker_id)
    except errors.CodeqError as exc:
        return _holder_only(exc)
    return json_response({"status": "requeued"})


@endpoint("POST", roles=WORK, operation="nack", body=inputs.NackBody, tags=WORKERS,
          responses={200: outputs.GivenBack}, raises=(404,),
          summary="Give the task back for a retry (backoff when no delay)", headers=WORKER_HEADERS)  # fmt: skip
async def nack(request: HttpRequest, principal: Principal, task_id: str, body: Values) -> HttpResponse:
    delay = body["delaySeconds"]
    if delay is not None:
        delay = min(delay, inputs.MAX_NACK_DELAY_SECONDS)
    reason = body["reason"]
    try:
        out = await kv.async_engine().nack(principal.tenant_slug, task_id, principal.worker_id,
                                           delay_ms=None if delay is None else delay * 1000, reason=reason)  # fmt: skip
    except errors.CodeqError as exc:
        return _holder_only(exc)
    recorder.seen(principal, request.headers)
    if out.dead:
        recorder.ran(principal.tenant_slug, out.task)
        return json_response({"status": "dlq", "delaySeconds": 0})
    return json_response({"status": "requeued", "delaySeconds": -(-out.delay_ms // 1000)})


def _answer(task_id: str, settled: Any, result: Any, error: str, artifacts: list[dict[str, str]]) -> dict[str, Any]:
    """The result answer built from what was just stored (no second read)."""
    return {
        "taskId": task_id,
        "status": settled.task.status,
        "result": result,
        "error": error or None,
        "artifacts": [{"name": a["name"], "url": a.get("url") or artifact_url(task_id, a["name"])} for a in artifacts],
        "completedAt": rfc3339(settled.task.finished_ms),
    }


async def _stored_answer(principal: Principal, task_id: str) -> dict[str, Any]:
    """A retried report: answer with what the first one stored."""
    _, stored = await kv.async_engine().get_result(principal.tenant_slug, task_id)
    if stored is None:  # its retention ended between the report and this read
        raise errors.NotFound("task not found")
    return result_json(stored)


async def _report(principal: Principal, task_id: str, data: dict[str, Any]) -> dict[str, Any]:
    completed, result, error, artifacts = inputs.result_report(data)
    engine = kv.async_engine()
    tenant, worker = principal.tenant_slug, principal.worker_id
    if completed:
        settled = await engine.complete(tenant, task_id, worker, result, error=error, artifacts=artifacts or None)
    else:
        settled = await engine.fail(tenant, task_id, worker, error, result=result, artifacts=artifacts or None)
    if settled.repeated:
        return await _stored_answer(principal, task_id)
    recorder.finished(tenant, settled.task, ok=completed)
    return _answer(task_id, settled, result, error, artifacts)


def _report_error(exc: errors.CodeqError) -> tuple[str, errors.CodeqError]:
    if isinstance(exc, errors.NotFound):
        return "task not found", exc
    return exc.message, exc


@endpoint(
    "POST",
    roles=WORK,
    operation="result",
    body=inputs.ResultBody,
    tags=WORKERS,
    responses={200: outputs.ResultAnswer},
    raises=(404, 409),
    summary="Report the final result",
    headers=WORKER_HEADERS,
)
async def result(request: HttpRequest, principal: Principal, task_id: str, body: Values) -> HttpResponse:
    recorder.seen(principal, request.headers)
    try:
        return json_response(await _report(principal, task_id, body))
    except (errors.NotFound, errors.NotOwner, errors.NotInProgress) as exc:
        message, answered = _report_error(exc)
        return error_response(answered, message)


@endpoint(
    "POST",
    roles=WORK,
    operation="result",
    body=inputs.ResultBatchBody,
    tags=WORKERS,
    responses={200: outputs.ResultBatchAnswer},
    summary="Report up to 100 results",
    headers=WORKER_HEADERS,
)
async def result_batch(request: HttpRequest, principal: Principal, body: Values) -> HttpResponse:
    items = body["results"]
    out: list[dict[str, Any]] = [{} for _ in items]
    reports, parsed, where = [], [], []
    for i, item in enumerate(items):
        task_id = item.get("taskId") if isinstance(item, dict) else None
        if not isinstance(task_id, str) or not task_id:
            out[i] = {"taskId": task_id, "error": "taskId is required"}
            continue
        try:
            completed, result, error, artifacts = inputs.result_report(inputs.ResultBody.parse(item))
        except errors.CodeqError as exc:
            out[i] = {"taskId": task_id, "error": exc.message}
            continue
        reports.append(Report(task_id, completed, result, error, artifacts or None))
        parsed.append((result, error, artifacts))
        where.append(i)
    recorder.seen(principal, request.headers)
    if reports:
        settled = await kv.async_engine().settle_batch(principal.tenant_slug, principal.worker_id, reports)
        for i, report, (result, error, artifacts), outcome in zip(where, reports, parsed, settled, strict=True):
            if isinstance(outcome, errors.CodeqError):
                out[i] = {"taskId": report.task_id, "error": _report_error(outcome)[0]}
            elif outcome.repeated:
                out[i] = {"taskId": report.task_id, "result": await _stored_answer(principal, report.task_id)}
            else:
                recorder.finished(principal.tenant_slug, outcome.task, ok=report.completed)
                answer = _answer(report.task_id, outcome, result, error, artifacts)
                out[i] = {"taskId": report.task_id, "result": answer}
    return json_response({"results": out})


@endpoint(
    "POST",
    roles=WORK,
    operation="progress",
    body=inputs.ProgressBody,
    tags=WORKERS,
    responses={200: outputs.Ok},
    raises=(404, 409),
    summary="Record progress (kept across retries)",
)
async def progress(request: HttpRequest, principal: Principal, task_id: str, body: Values) -> HttpResponse:
    value = inputs.progress_value(body["progress"])
    try:
        await kv.async_engine().progress(principal.tenant_slug, task_id, principal.worker_id, value)
    except errors.NotFound as exc:
        return error_response(exc, "not-found")
    return json_response({"ok": True})


@endpoint(
    "GET", roles=READ, operation="get", tags=TASKS, responses={200: outputs.Task}, raises=(404,), summary="Get a task"
)
async def get_task(request: HttpRequest, principal: Principal, task_id: str) -> HttpResponse:
    try:
        task = await kv.async_engine().get_task(principal.tenant_slug, task_id)
    except errors.NotFound as exc:
        return error_response(exc, "not found")
    return json_response(task_json(task))


@endpoint(
    "GET",
    roles=READ,
    operation="get",
    query=inputs.ResultQuery,
    tags=TASKS,
    responses={200: outputs.TaskAndResult},
    raises=(404,),
    summary="Get a task's result",
)
async def get_result(request: HttpRequest, principal: Principal, task_id: str, query: Values) -> HttpResponse:
    wait = query["waitSeconds"]
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


@endpoint(
    "GET",
    roles=READ,
    operation="get",
    tags=TASKS,
    raises=(404,),
    summary="Download an inline artifact",
    responses={(200, "*/*"): {"type": "string", "format": "binary"}},
)
async def get_artifact(request: HttpRequest, principal: Principal, task_id: str, artifact: str) -> HttpResponse:
    _, stored = await kv.async_engine().get_result(principal.tenant_slug, task_id)
    for item in orjson.loads(stored.artifacts) if stored and stored.artifacts else ():
        if item["name"] == artifact and "contentBase64" in item:
            return _download(base64.b64decode(item["contentBase64"]), item.get("contentType"), artifact)
    return json_response(error_body("artifact not found", errors.NotFound.code), 404)


def _download(content: bytes, content_type: Any, name: str) -> HttpResponse:
    """An artifact as a download, never a page: whatever a worker uploaded (HTML, SVG, scripts) must
    not run in the origin that also serves the dashboard. A type stored before it was validated, and
    not a media type, is served as bytes."""
    response = HttpResponse(content, content_type=content_type if inputs.is_media_type(content_type)
                            else "application/octet-stream")  # fmt: skip
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@endpoint(
    "POST",
    roles=PRODUCE,
    operation="cancel",
    tags=TASKS,
    responses={200: outputs.Task},
    raises=(404, 409),
    summary="Cancel a pending or delayed task (it ends FAILED, error CANCELLED)",
)
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
