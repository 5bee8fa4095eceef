"""``Client`` and ``AsyncClient``: every route under ``/v1/codeq``, one method each.

Both faces share one table of routes (``Routes``): each method, a ``route``, builds a ``Call`` (method,
path, body, how to read the answer, whether it may be resent) and hands it to the face, which sends it with
its own httpx client and retries it by ``RetryPolicy``. ``AsyncClient``'s methods are the same, awaited,
and typed so: a coroutine of the answer.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import re
import socket
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx

from codeq import errors
from codeq.models import (
    ApiToken,
    Bulk,
    Cleanup,
    Delivery,
    DeliveryPage,
    ItemError,
    Nacked,
    QueueCounts,
    Queued,
    QueueSettings,
    QueueStats,
    Schedule,
    ScheduleSpec,
    Secret,
    Task,
    TaskPage,
    TaskResult,
    Usage,
    WebhookSubscription,
    WorkerSubscription,
    _time,
    queue_counts,
)
from codeq.retry import RetryPolicy, retry_after_seconds

T = TypeVar("T")
P = ParamSpec("P")
PREFIX = "/v1/codeq"
USER_AGENT = "codeq-python/0.1.0"
DEFAULT_TIMEOUT = 30.0
LONG_POLL_MARGIN = 15.0  # the server's own deadline plus a busy machine's scheduling delays


@dataclass
class Call(Generic[T]):
    """One request and how to read its answer."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] | None = None
    replayable: bool = False
    timeout: float | None = None
    absent: str | None = None  # a 404 with this message means "nothing yet": the call returns None


@dataclass
class Report:
    """One result of a batch report (``Client.report_batch``)."""

    task_id: str
    status: str = "COMPLETED"
    result: Any = None
    error: str | None = None
    artifacts: list[dict[str, str]] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"taskId": self.task_id, "status": self.status}
        if self.status == "COMPLETED":
            body["result"] = {} if self.result is None else self.result
        elif self.result is not None:
            body["result"] = self.result
        if self.error is not None:
            body["error"] = self.error
        if self.artifacts:
            body["artifacts"] = self.artifacts
        return body


def _seg(value: object) -> str:
    return quote(str(value), safe="")


def _json(response: httpx.Response) -> Any:
    return response.json()


def _nothing(response: httpx.Response) -> None:
    return None


def _task(response: httpx.Response) -> Task:
    return Task.from_json(response.json())


def _maybe_task(response: httpx.Response) -> Task | None:
    return None if response.status_code == 204 else Task.from_json(response.json())


def _tasks(response: httpx.Response) -> list[Task]:
    if response.status_code == 204:
        return []
    return [Task.from_json(t) for t in response.json()["tasks"]]


def _task_page(response: httpx.Response) -> TaskPage:
    body = response.json()
    return TaskPage([Task.from_json(t) for t in body["tasks"]], body.get("nextCursor"))


def _bulk(key: str) -> Callable[[httpx.Response], Bulk]:
    def read(response: httpx.Response) -> Bulk:
        body = response.json()
        return Bulk(body[key], bool(body.get("remaining")))

    return read


def _settings(response: httpx.Response) -> QueueSettings:
    return QueueSettings.from_json(response.json())


def _secret(response: httpx.Response) -> Secret:
    body = response.json()
    return Secret(body["secret"], _time(body.get("previousSecretExpiresAt")))


def _queued(response: httpx.Response) -> Queued:
    body = response.json()
    return Queued(str(body["deliveryId"]), body["status"])


def _subscription(response: httpx.Response) -> WorkerSubscription:
    return WorkerSubscription.from_json(response.json())


def _created_task(item: dict[str, Any]) -> Task | ItemError:
    return Task.from_json(item["task"]) if "task" in item else ItemError(item.get("error", "error"))


def _reported(item: dict[str, Any]) -> TaskResult | ItemError:
    if "result" in item:
        return TaskResult.from_json(item["result"])
    return ItemError(item.get("error", "error"), item.get("taskId"))


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def task_body(
    command: str,
    payload: Any,
    *,
    priority: int | None = None,
    max_attempts: int | None = None,
    webhook: str | None = None,
    idempotency_key: str | None = None,
    deduplication_key: str | None = None,
    task_id: str | None = None,
    run_at: datetime | str | None = None,
    delay_seconds: int | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """A create request's body. Without a key of its own it gets a fresh ``idempotencyKey``, so a create
    resent after a lost answer returns the first task instead of making a second."""
    if idempotency_key is None and deduplication_key is None and task_id is None:
        idempotency_key = uuid.uuid4().hex
    if isinstance(run_at, datetime):
        run_at = run_at.isoformat()
    return _drop_none(
        command=command,
        payload=payload,
        priority=priority,
        maxAttempts=max_attempts,
        webhook=webhook,
        idempotencyKey=idempotency_key,
        deduplicationKey=deduplication_key,
        taskId=task_id,
        runAt=run_at,
        delaySeconds=delay_seconds,
        tags=tags,
    )


def _result(report: Report) -> Call[TaskResult]:
    path = f"/tasks/{_seg(report.task_id)}/result"
    return Call("POST", path, lambda r: TaskResult.from_json(r.json()), json=report.to_json(), replayable=True)


def _page(command: str, state: str, limit: int | None, cursor: str | None) -> Call[TaskPage]:
    params = _drop_none(state=state, limit=limit, cursor=cursor)
    return Call("GET", f"/admin/queues/{_seg(command)}/tasks", _task_page, params=params, replayable=True)


def with_key(body: dict[str, Any]) -> dict[str, Any]:
    """A create body as given, with a fresh ``idempotencyKey`` when it carries no key of its own."""
    if any(body.get(k) for k in ("idempotencyKey", "deduplicationKey", "taskId")):
        return body
    return {**body, "idempotencyKey": uuid.uuid4().hex}


class route(Generic[P, T]):
    """A route's method, written once: ``build`` returns the ``Call``, the face's ``_run`` sends it.

    Read on a ``Client``, the method returns the answer; on an ``AsyncClient``, a coroutine of it. The
    overloads of ``__get__`` tell a type checker the same, so ``await async_client.get(...)`` is a ``Task``
    and ``async_client.get(...)`` without ``await`` is not one.
    """

    def __init__(self, build: Callable[Concatenate[Any, P], Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        # What help() and inspect show: the answer, or a coroutine of it, rather than the Call.
        signature = inspect.signature(build)
        answer = str(signature.return_annotation).removeprefix("Call[").removesuffix("]")
        self.method = self._method(signature.replace(return_annotation=answer))
        self.coroutine_method = self._method(signature.replace(return_annotation=f"Coroutine[Any, Any, {answer}]"))

    def _method(self, signature: inspect.Signature) -> Callable[..., Any]:
        build = self.build

        def method(face: Routes, /, *args: Any, **kwargs: Any) -> Any:
            return face._run(build(face, *args, **kwargs))

        functools.update_wrapper(method, build)
        method.__signature__ = signature  # type: ignore[attr-defined]
        return method

    @overload
    def __get__(self, face: None, owner: type[Any]) -> Callable[Concatenate[Any, P], Any]: ...

    @overload
    def __get__(self, face: AsyncClient, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(self, face: Client, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, face: Routes | None, owner: type[Any]) -> Any:
        if face is None:
            return self.method
        return MethodType(self.coroutine_method if isinstance(face, AsyncClient) else self.method, face)


class Routes(ABC):
    """Every route of the API; a face's ``_run`` sends the ``Call`` each method builds."""

    @abstractmethod
    def _run(self, call: Call[T]) -> Any:
        """Send ``call`` and read its answer (the async face returns a coroutine of it)."""

    # tasks (producers)

    @route
    def create(self, /, command: str, payload: Any, **options: Any) -> Call[Task]:
        """Enqueue a task (``POST /tasks``); options as ``task_body``: ``priority``, ``max_attempts``,
        ``webhook``, ``idempotency_key`` | ``deduplication_key`` | ``task_id``, ``run_at``, ``delay_seconds``."""
        return Call("POST", "/tasks", _task, json=task_body(command, payload, **options), replayable=True)

    @route
    def create_batch(self, tasks: Iterable[dict[str, Any]]) -> Call[list[Task | ItemError]]:
        """Enqueue 1-100 tasks in one request; each item is a create body (``{"command", "payload", ...}``).
        The answer has one entry per item, in order: the task, or the reason it was refused."""
        body = {"tasks": [with_key(t) for t in tasks]}

        def read(response: httpx.Response) -> list[Task | ItemError]:
            return [_created_task(item) for item in response.json()["results"]]

        return Call("POST", "/tasks/batch", read, json=body, replayable=True)

    @route
    def get(self, task_id: str) -> Call[Task]:
        return Call("GET", f"/tasks/{_seg(task_id)}", _task, replayable=True)

    @route
    def result(self, task_id: str, *, wait: float = 0) -> Call[TaskResult | None]:
        """The task's result, waiting up to ``wait`` seconds (at most 60) for it; None if there is none by
        then (also for a dead-lettered task). Raises ``NotFound`` for an unknown task."""

        def read(response: httpx.Response) -> TaskResult | None:
            body = response.json()
            return TaskResult.from_json(body["result"], Task.from_json(body["task"]))

        seconds = int(max(0, min(wait, 60)))
        return Call(
            "GET",
            f"/tasks/{_seg(task_id)}/result",
            read,
            params={"waitSeconds": seconds} if seconds else None,
            replayable=True,
            timeout=seconds + LONG_POLL_MARGIN,
            absent="result not found",
        )

    @route
    def cancel(self, task_id: str) -> Call[Task]:
        """Withdraw a pending or delayed task: it ends ``FAILED`` with error ``CANCELLED``."""
        return Call("POST", f"/tasks/{_seg(task_id)}/cancel", _task, json={}, replayable=True)

    @route
    def artifact(self, task_id: str, name: str) -> Call[bytes]:
        """The content of an artifact stored inline with a result."""
        return Call("GET", f"/tasks/{_seg(task_id)}/artifacts/{_seg(name)}", lambda r: r.content, replayable=True)

    # work (workers)

    @route
    def claim(
        self, commands: Iterable[str] | None = None, *, lease_seconds: int | None = None, wait: int = 0
    ) -> Call[Task | None]:
        """Lease one task of ``commands`` (None: any), long-polling up to ``wait`` seconds (0-30)."""
        body = _drop_none(commands=list(commands) if commands else None, leaseSeconds=lease_seconds, waitSeconds=wait)
        return Call("POST", "/tasks/claim", _maybe_task, json=body, timeout=wait + LONG_POLL_MARGIN)

    @route
    def claim_batch(
        self, count: int, commands: Iterable[str] | None = None, *, lease_seconds: int | None = None, wait: int = 0
    ) -> Call[list[Task]]:
        """Lease up to ``count`` (1-10) tasks at once; empty if none came within ``wait`` seconds."""
        body = _drop_none(
            count=count, commands=list(commands) if commands else None, leaseSeconds=lease_seconds, waitSeconds=wait
        )
        return Call("POST", "/tasks/claim/batch", _tasks, json=body, timeout=wait + LONG_POLL_MARGIN)

    @route
    def heartbeat(self, task_id: str, *, extend_seconds: int | None = None) -> Call[None]:
        """Extend the caller's lease (by ``extend_seconds``, default 300). Raises ``NotOwner`` once lost."""
        body = _drop_none(extendSeconds=extend_seconds)
        return Call("POST", f"/tasks/{_seg(task_id)}/heartbeat", _nothing, json=body, replayable=True)

    @route
    def abandon(self, task_id: str) -> Call[None]:
        """Give a leased task back at once, uncharged: it is ready for the next claim."""
        return Call("POST", f"/tasks/{_seg(task_id)}/abandon", _nothing, json={})

    @route
    def nack(self, task_id: str, *, delay_seconds: int | None = None, reason: str | None = None) -> Call[Nacked]:
        """Give a leased task back to be retried after ``delay_seconds`` (None: the server's backoff); past
        its ``maxAttempts`` it is dead-lettered instead."""

        def read(response: httpx.Response) -> Nacked:
            body = response.json()
            return Nacked(body["status"] == "dlq", body.get("delaySeconds", 0))

        body = _drop_none(delaySeconds=delay_seconds, reason=reason)
        return Call("POST", f"/tasks/{_seg(task_id)}/nack", read, json=body)

    @route
    def complete(
        self, task_id: str, result: Any = None, *, artifacts: list[dict[str, str]] | None = None
    ) -> Call[TaskResult]:
        """Report success; ``result`` is a JSON object (None sends ``{}``). Artifacts are ``{name, url}`` or
        ``{name, contentBase64, contentType}``."""
        return _result(Report(task_id, "COMPLETED", result, artifacts=artifacts))

    @route
    def fail(self, task_id: str, error: str, *, result: Any = None) -> Call[TaskResult]:
        """Report a final failure: the task ends ``FAILED`` and is not retried (use ``nack`` to retry)."""
        return _result(Report(task_id, "FAILED", result, error))

    @route
    def report_batch(self, reports: Iterable[Report]) -> Call[list[TaskResult | ItemError]]:
        """Report 1-100 results in one request; one entry per report, in order."""

        def read(response: httpx.Response) -> list[TaskResult | ItemError]:
            return [_reported(item) for item in response.json()["results"]]

        body = {"results": [r.to_json() for r in reports]}
        return Call("POST", "/tasks/batch/results", read, json=body, replayable=True)

    @route
    def progress(self, task_id: str, progress: Any) -> Call[None]:
        """Publish the leased task's progress (any JSON value), shown as ``Task.progress``."""
        return Call("POST", f"/tasks/{_seg(task_id)}/progress", _nothing, json={"progress": progress}, replayable=True)

    # worker subscriptions

    @route
    def subscribe(
        self,
        callback_url: str,
        *,
        event_types: Iterable[str] | None = None,
        ttl_seconds: int | None = None,
        delivery_mode: str | None = None,
        group_id: str | None = None,
        min_interval_seconds: int | None = None,
    ) -> Call[WorkerSubscription]:
        """Ask to be woken at ``callback_url`` when work for ``event_types`` (commands; None: all) arrives."""
        body = _drop_none(
            callbackUrl=callback_url,
            eventTypes=list(event_types) if event_types else None,
            ttlSeconds=ttl_seconds,
            deliveryMode=delivery_mode,
            groupId=group_id,
            minIntervalSeconds=min_interval_seconds,
        )
        return Call("POST", "/workers/subscriptions", _subscription, json=body)

    @route
    def renew_subscription(self, subscription_id: str, *, ttl_seconds: int | None = None) -> Call[WorkerSubscription]:
        """Keep a worker subscription alive (by ``ttl_seconds``, default the TTL it was made with)."""
        path = f"/workers/subscriptions/{_seg(subscription_id)}/heartbeat"
        return Call("POST", path, _subscription, json=_drop_none(ttlSeconds=ttl_seconds), replayable=True)

    @route
    def unsubscribe(self, subscription_id: str) -> Call[None]:
        path = f"/workers/subscriptions/{_seg(subscription_id)}"
        return Call("DELETE", path, _nothing, replayable=True)

    @route
    def worker_subscriptions(self) -> Call[list[WorkerSubscription]]:
        """The tenant's live worker subscriptions (admin)."""

        def read(response: httpx.Response) -> list[WorkerSubscription]:
            return [WorkerSubscription.from_json(s) for s in response.json()["subscriptions"]]

        return Call("GET", "/admin/workers/subscriptions", read, replayable=True)

    # queues and the DLQ (admins)

    @route
    def queues(self) -> Call[dict[str, QueueCounts]]:
        """Every command's depths, by command."""
        return Call("GET", "/admin/queues", lambda r: queue_counts(r.json()), replayable=True)

    @route
    def queue(self, command: str) -> Call[QueueStats]:
        """One command's depths and counters."""
        return Call("GET", f"/admin/queues/{_seg(command)}", lambda r: QueueStats.from_json(r.json()), replayable=True)

    @route
    def pause_queue(self, command: str) -> Call[QueueSettings]:
        """Pause ``command``: claims skip it until it is resumed; producers may still enqueue."""
        return Call("POST", f"/admin/queues/{_seg(command)}/pause", _settings, json={}, replayable=True)

    @route
    def resume_queue(self, command: str) -> Call[QueueSettings]:
        """Resume a paused command; workers waiting on it are woken."""
        return Call("POST", f"/admin/queues/{_seg(command)}/resume", _settings, json={}, replayable=True)

    @route
    def set_queue_limits(self, command: str, *, max_in_flight: int | None) -> Call[QueueSettings]:
        """Cap ``command``'s tasks in flight at ``max_in_flight`` (None: lift the cap)."""
        body = _drop_none(maxInFlight=max_in_flight)
        return Call("PUT", f"/admin/queues/{_seg(command)}/limits", _settings, json=body, replayable=True)

    @route
    def queue_tasks(
        self, command: str, state: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Call[TaskPage]:
        """A page of a command's tasks in ``state``: ``ready``, ``delayed``, ``inProgress`` or ``dlq``."""
        return _page(command, state, limit, cursor)

    @route
    def dlq(self, command: str, *, limit: int | None = None, cursor: str | None = None) -> Call[TaskPage]:
        """A page of a command's dead-lettered tasks, newest death first."""
        return _page(command, "dlq", limit, cursor)

    @route
    def requeue(self, task_id: str) -> Call[Task]:
        """Put one dead-lettered task back in its queue (attempts reset)."""
        return Call("POST", f"/admin/tasks/{_seg(task_id)}/requeue", _task, json={})

    @route
    def requeue_dlq(self, command: str, *, limit: int | None = None) -> Call[Bulk]:
        """Requeue up to ``limit`` (1-1000) of a command's dead tasks; repeat while ``remaining``."""
        return Call(
            "POST",
            f"/admin/queues/{_seg(command)}/dlq/requeue",
            _bulk("requeued"),
            json={},
            params=_drop_none(limit=limit),
        )

    @route
    def purge_dlq(self, command: str, *, limit: int | None = None) -> Call[Bulk]:
        """Delete up to ``limit`` (1-1000) of a command's dead tasks; repeat while ``remaining``."""
        return Call(
            "DELETE",
            f"/admin/queues/{_seg(command)}/dlq",
            _bulk("deleted"),
            params=_drop_none(limit=limit),
            replayable=True,
        )

    @route
    def delete_task(self, task_id: str) -> Call[None]:
        """Delete a task that no worker holds, with its result."""
        return Call("DELETE", f"/admin/tasks/{_seg(task_id)}", _nothing)

    @route
    def cleanup(self, *, before: datetime | str | None = None, limit: int | None = None) -> Call[Cleanup]:
        """Delete up to ``limit`` tasks whose retention ends at or before ``before`` (default: now): finished
        tasks at least the tenant's result retention older than it, dead-lettered ones its DLQ retention."""

        def read(response: httpx.Response) -> Cleanup:
            body = response.json()
            return Cleanup(body["deleted"], _time(body.get("before")), body["limit"])

        when = before.isoformat() if isinstance(before, datetime) else before
        return Call("POST", "/admin/tasks/cleanup", read, json=_drop_none(before=when, limit=limit), replayable=True)

    @route
    def usage(self, *, since: date | str | None = None, until: date | str | None = None) -> Call[Usage]:
        """The tenant's usage per UTC day from ``since`` to ``until`` (defaults: the 30 days up to today; at
        most 366 days), and its monthly quota as it stands."""
        params = _drop_none(
            **{"from": since.isoformat() if isinstance(since, date) else since},
            to=until.isoformat() if isinstance(until, date) else until,
        )
        return Call("GET", "/admin/usage", lambda r: Usage.from_json(r.json()), params=params, replayable=True)

    # schedules (admins)

    @route
    def schedules(self) -> Call[list[Schedule]]:
        def read(response: httpx.Response) -> list[Schedule]:
            return [Schedule.from_json(s) for s in response.json()["schedules"]]

        return Call("GET", "/admin/schedules", read, replayable=True)

    @route
    def schedule(self, name: str) -> Call[Schedule]:
        return Call("GET", f"/admin/schedules/{_seg(name)}", lambda r: Schedule.from_json(r.json()), replayable=True)

    @route
    def put_schedule(self, name: str, spec: ScheduleSpec | dict[str, Any]) -> Call[Schedule]:
        """Create or replace the schedule ``name`` (a DNS label); raises ``InvalidSchedule`` with ``field``
        for a spec that cannot run."""
        body = spec.to_json() if isinstance(spec, ScheduleSpec) else spec
        return Call(
            "PUT",
            f"/admin/schedules/{_seg(name)}",
            lambda r: Schedule.from_json(r.json()),
            json=body,
            replayable=True,
        )

    @route
    def delete_schedule(self, name: str) -> Call[None]:
        return Call("DELETE", f"/admin/schedules/{_seg(name)}", _nothing, replayable=True)

    # tokens (admins)

    @route
    def tokens(self) -> Call[list[ApiToken]]:
        return Call("GET", "/admin/tokens", lambda r: [ApiToken.from_json(t) for t in r.json()], replayable=True)

    @route
    def issue_token(self, name: str, role: str, *, expires_in_days: int | None = None) -> Call[ApiToken]:
        """A new token of ``role`` (producer, worker, admin); its bearer is in ``.token``, shown this once."""
        body = _drop_none(name=name, role=role, expiresInDays=expires_in_days)
        return Call("POST", "/admin/tokens", lambda r: ApiToken.from_json(r.json()), json=body)

    @route
    def revoke_token(self, token_id: int) -> Call[ApiToken]:
        return Call(
            "DELETE", f"/admin/tokens/{_seg(token_id)}", lambda r: ApiToken.from_json(r.json()), replayable=True
        )

    # webhook subscriptions and deliveries (admins)

    @route
    def webhooks(self) -> Call[list[WebhookSubscription]]:
        return Call(
            "GET",
            "/admin/webhooks",
            lambda r: [WebhookSubscription.from_json(s) for s in r.json()],
            replayable=True,
        )

    @route
    def webhook(self, subscription_id: int) -> Call[WebhookSubscription]:
        return Call(
            "GET",
            f"/admin/webhooks/{_seg(subscription_id)}",
            lambda r: WebhookSubscription.from_json(r.json()),
            replayable=True,
        )

    @route
    def create_webhook(
        self, url: str, events: Iterable[str], *, commands: Iterable[str] | None = None
    ) -> Call[WebhookSubscription]:
        """Subscribe ``url`` to ``events`` (``task.completed``, ``task.failed``, ``task.dead``,
        ``task.available``), narrowed to ``commands``; its signing secret is in ``.secret``, shown once."""
        body = _drop_none(url=url, events=list(events), commands=list(commands) if commands is not None else None)
        return Call("POST", "/admin/webhooks", lambda r: WebhookSubscription.from_json(r.json()), json=body)

    @route
    def update_webhook(
        self,
        subscription_id: int,
        *,
        url: str | None = None,
        events: Iterable[str] | None = None,
        commands: Iterable[str] | None = None,
        active: bool | None = None,
    ) -> Call[WebhookSubscription]:
        """Change a subscription; ``active=True`` resumes a paused one."""
        body = _drop_none(
            url=url,
            events=list(events) if events is not None else None,
            commands=list(commands) if commands is not None else None,
            active=active,
        )
        return Call(
            "PATCH",
            f"/admin/webhooks/{_seg(subscription_id)}",
            lambda r: WebhookSubscription.from_json(r.json()),
            json=body,
            replayable=True,
        )

    @route
    def delete_webhook(self, subscription_id: int) -> Call[None]:
        return Call("DELETE", f"/admin/webhooks/{_seg(subscription_id)}", _nothing)

    @route
    def rotate_webhook_secret(self, subscription_id: int, *, grace_seconds: int | None = None) -> Call[Secret]:
        """A new secret for the subscription; the old one keeps signing beside it for ``grace_seconds``."""
        return Call(
            "POST",
            f"/admin/webhooks/{_seg(subscription_id)}/rotate",
            _secret,
            json=_drop_none(graceSeconds=grace_seconds),
        )

    @route
    def deliveries(
        self, subscription_id: int, *, limit: int | None = None, cursor: str | None = None
    ) -> Call[DeliveryPage]:
        """A page of the subscription's deliveries, newest first, each with its attempts."""

        def read(response: httpx.Response) -> DeliveryPage:
            body = response.json()
            return DeliveryPage([Delivery.from_json(d) for d in body["deliveries"]], body.get("nextCursor"))

        return Call(
            "GET",
            f"/admin/webhooks/{_seg(subscription_id)}/deliveries",
            read,
            params=_drop_none(limit=limit, cursor=cursor),
            replayable=True,
        )

    @route
    def delivery(self, delivery_id: str) -> Call[Delivery]:
        return Call(
            "GET",
            f"/admin/webhooks/deliveries/{_seg(delivery_id)}",
            lambda r: Delivery.from_json(r.json()),
            replayable=True,
        )

    @route
    def test_webhook(self, subscription_id: int) -> Call[Queued]:
        """Queue a signed ``webhook.test`` event to the subscription (one attempt)."""
        return Call("POST", f"/admin/webhooks/{_seg(subscription_id)}/test", _queued, json={})

    @route
    def redeliver(self, delivery_id: str) -> Call[Queued]:
        """Send a finished delivery again (same id and body); ``Conflict`` while it is still being sent."""
        return Call("POST", f"/admin/webhooks/deliveries/{_seg(delivery_id)}/redeliver", _queued, json={})

    @route
    def rotate_signing_secret(self, *, grace_seconds: int | None = None) -> Call[Secret]:
        """A new secret for the tenant's result callbacks and worker wake-ups, shown this once."""
        return Call(
            "POST", "/admin/webhooks/signing-secret/rotate", _secret, json=_drop_none(graceSeconds=grace_seconds)
        )


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(PREFIX) else url + PREFIX


def _headers(token: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def worker_headers(worker_id: str | None = None) -> dict[str, str]:
    """Headers by which a worker process says who it is: ``X-Codeq-Worker-Id`` (``worker_id``, by default
    ``<host>:<pid>:<random>``), ``X-Codeq-Worker-Host`` and ``X-Codeq-Worker-Pid``. The platform shows
    them on its console's Workers page; each value is at most 64 of ``A-Z a-z 0-9 . _ : @ + -``."""
    host = re.sub(r"[^A-Za-z0-9._:@+-]", "-", socket.gethostname())[:64] or "unknown"
    pid = str(os.getpid())
    default = f"{host[:40]}:{pid}:{uuid.uuid4().hex[:8]}"
    return {"X-Codeq-Worker-Id": (worker_id or default)[:64], "X-Codeq-Worker-Host": host, "X-Codeq-Worker-Pid": pid}


def _finish(call: Call[T], response: httpx.Response) -> T:
    """The call's value, or the exception its error answer stands for."""
    if not response.is_error:
        return call.read(response)
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:200] or f"HTTP {response.status_code}"}
    exc = errors.error_for(
        response.status_code,
        body,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after_seconds(response),
    )
    if call.absent is not None and isinstance(exc, errors.NotFound) and exc.message == call.absent:
        return None  # type: ignore[return-value]
    raise exc


def _transport_error(exc: httpx.TransportError, call: Call[Any]) -> errors.TransportError:
    return errors.TransportError(f"{call.method} {call.path}: {type(exc).__name__}: {exc}", code="transport_error")


def _limits(connections: int) -> httpx.Limits:
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections)


class Client(Routes):
    """The platform's API over HTTP, blocking; safe to share between threads.

    ``url`` is the platform's address (``http://host:8000``; ``/v1/codeq`` is added), ``token`` a bearer.
    Use as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        connections: int = 20,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=_base_url(url),
            headers=_headers(token, headers),
            timeout=timeout,
            limits=_limits(connections),
            transport=transport,
        )

    def _run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params,
                    timeout=call.timeout or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                wait = self.retry.after_failure(exc, attempt, call.replayable)
                if wait is None:
                    raise _transport_error(exc, call) from exc
            else:
                wait = self.retry.after_answer(response, attempt, call.replayable) if response.is_error else None
                if wait is None:
                    return _finish(call, response)
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(Routes):
    """The platform's API over HTTP for asyncio: ``Client``'s methods, each awaited.

    Use as an async context manager, or call ``await aclose()``.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._in_flight = in_flight
        self._http = httpx.AsyncClient(
            base_url=_base_url(url),
            headers=_headers(token, headers),
            event_hooks={"request": [self._say_in_flight]} if in_flight else None,
            timeout=timeout,
            limits=_limits(connections),
            transport=transport,
        )

    async def _say_in_flight(self, request: httpx.Request) -> None:
        if self._in_flight is not None:
            request.headers["X-Codeq-Worker-In-Flight"] = str(self._in_flight())

    async def _run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=call.params,
                    timeout=call.timeout or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                wait = self.retry.after_failure(exc, attempt, call.replayable)
                if wait is None:
                    raise _transport_error(exc, call) from exc
            else:
                wait = self.retry.after_answer(response, attempt, call.replayable) if response.is_error else None
                if wait is None:
                    return _finish(call, response)
            await asyncio.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
