"""The one frame of every API endpoint: auth, role, rate limit, body limits and parsing, one error shape,
and the endpoint's OpenAPI description, all from one declaration.

An endpoint is a plain async Django view wrapped by ``endpoint`` (DRF's request machinery costs ~0.5 ms
a request here, more than the rest of a claim)::

    @endpoint("POST", roles=WORK, operation="claim", body=inputs.ClaimBody,
              responses={200: outputs.Task, 204: None}, summary="Claim the next task")
    async def claim(request, principal, body): ...

The frame authenticates the bearer token, checks the role, counts the call against the tenant's
per-second limit, reads the body (up to the tenant's limit) and parses it with the ``body`` shape (the
``query`` shape for the query string), then awaits the handler with ``body=`` / ``query=``. Whatever
goes wrong answers in the error shape (``errors.py``): the platform's errors with their status, any
failure of the KV store 503 with ``Retry-After``. From the same declaration it builds the view class
drf-spectacular reads, so the schema names the request and response shapes and every status the
frame and the handler can answer.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import redis
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django_redis.exceptions import ConnectionInterrupted
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from codeq_platform import errors
from codeq_platform.api import auth, outputs, traffic
from codeq_platform.api.errors import error_body, error_response, json_response
from codeq_platform.api.metrics import REQUEST_SECONDS
from codeq_platform.api.shapes import Shape
from codeq_platform.base import kv
from codeq_platform.engine import jsontext
from codeq_platform.engine.keys import rate_key

log = logging.getLogger("codeq.api")

View = Callable[..., Coroutine[Any, Any, HttpResponse]]
Values = dict[str, Any]  # a parsed body or query string, by field name
Answer = type[Shape] | type[BaseSerializer[Any]] | BaseSerializer[Any] | Mapping[str, Any] | None

PRODUCE = frozenset({auth.PRODUCER, auth.ADMIN})  # create tasks (and batches)
WORK = frozenset({auth.WORKER, auth.ADMIN})  # claim, lease operations, results, progress, subscriptions
READ = frozenset({auth.PRODUCER, auth.WORKER, auth.ADMIN})  # get a task or its result
ADMIN = frozenset({auth.ADMIN})  # /admin/*

# Failures of the KV store (the queue's, the token cache's): all answer 503, whatever the command.
STORE_ERRORS = (redis.RedisError, redis.exceptions.RedisClusterException, ConnectionInterrupted)

# What each status means when the frame itself may answer it.
MEANING = {
    400: "invalid input",
    401: "no usable bearer token",
    403: "the token's role may not call this, or the caller does not hold the lease",
    404: "not found (another tenant's is not found either)",
    409: "the task is not in a state that allows it",
    413: "the request body, or a value in it, is too large",
    422: "the spec cannot run",
    429: "the tenant's rate limit or queue limit; Retry-After says when to try again",
    503: "the store is unavailable; Retry-After says when to try again",
}


def read_json(request: HttpRequest, limit: int) -> Any:
    """The request's JSON body (``{}`` when empty), whatever its Content-Type; the size limit is
    checked before anything is parsed."""
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.PayloadTooLarge(f"request body exceeds {limit} bytes")
    try:
        raw = request.body
    except RequestDataTooBig:
        raise errors.PayloadTooLarge(f"request body exceeds {limit} bytes") from None
    if len(raw) > limit:
        raise errors.PayloadTooLarge(f"request body exceeds {limit} bytes")
    if not raw.strip():
        return {}
    try:
        return jsontext.loads(raw)
    except ValueError:
        raise errors.InvalidInput("invalid body") from None


async def check_rate(principal: auth.Principal, operation: str) -> None:
    """Per-tenant fixed one-second window kept in the KV store, so every web process shares it."""
    limit = principal.requests_per_second
    if not limit:
        return
    engine = kv.async_engine()
    second = int(time.time())
    key = rate_key(engine.config.prefix, principal.tenant_slug, second)
    count, _ = await engine.link.execute_many([("INCR", key), ("EXPIRE", key, 2)])
    if count > limit:
        raise errors.RateLimited(retry_after=1, operation=operation)


def failure_response(exc: BaseException) -> HttpResponse | None:
    """The answer to a failure any endpoint may meet, or None for a bug (the caller answers 500)."""
    if isinstance(exc, errors.CodeqError):
        return error_response(exc)
    if isinstance(exc, STORE_ERRORS):
        log.warning("the store failed: %s: %s", type(exc).__name__, exc)
        return error_response(errors.StoreUnavailable())
    return None


def method_not_allowed(allowed: str) -> HttpResponse:
    return json_response(error_body("method not allowed", "method_not_allowed"), 405, {"Allow": allowed})


def endpoint(method: str, *, roles: frozenset[str], operation: str, summary: str, tags: tuple[str, ...],
             responses: Mapping[int | tuple[int, str], Answer], body: type[Shape] | None = None,
             query: type[Shape] | None = None, raises: tuple[int, ...] = (), description: str = "",
             operation_id: str = "", headers: Sequence[tuple[str, str]] = ()) -> Callable[[View], View]:  # fmt: skip
    """Wrap ``handler(request, principal, [body=...], [query=...], **url_kwargs)`` in the frame.

    ``responses`` are the success answers by status (or ``(status, media type)``): a shape, a DRF
    serializer, a raw schema, or None for no body; ``raises`` the error statuses the handler answers beyond
    the frame's own; ``headers`` the optional request headers it reads, (name, meaning) each."""

    def wrap(handler: View) -> View:
        timer = REQUEST_SECONDS.labels(operation)

        async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            started = time.perf_counter()
            request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
            tenant = ""
            try:
                if request.method != method:
                    response = method_not_allowed(method)
                else:
                    principal = await auth.aauthenticate_bearer(request.headers.get("Authorization"))
                    tenant = principal.tenant_slug
                    auth.ensure_role(principal, roles)
                    kv.register_tenant(principal.tenant_slug, principal.shards)
                    await check_rate(principal, operation)
                    if body is not None:
                        kwargs["body"] = body.parse(read_json(request, principal.max_body_bytes))
                    if query is not None:
                        kwargs["query"] = query.parse_query(request.GET)
                    response = await handler(request, principal, **kwargs)
            except Exception as exc:
                failure = failure_response(exc)
                if failure is None:
                    raise
                response = failure
            if tenant:
                traffic.note(tenant, throttled=response.status_code == 429)
            response["X-Request-Id"] = request_id
            timer.observe(time.perf_counter() - started)
            return response

        view.csrf_exempt = True  # type: ignore[attr-defined]
        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        # Any request may carry a body past the hard cap (413, before routing has read it).
        statuses = {401, 403, 413, 429, 503, *raises}
        if body is not None or query is not None:
            statuses.add(400)
        schema = extend_schema(
            operation_id=operation_id or handler.__name__, summary=summary, description=description,
            tags=list(tags), request={"application/json": body.ref()} if body is not None else None,
            parameters=[OpenApiParameter(p["name"], p["schema"], OpenApiParameter.QUERY, required=p["required"],
                                         description=p.get("description", ""))
                        for p in (query.parameters() if query is not None else ())]
                       + [OpenApiParameter(name, str, OpenApiParameter.HEADER, required=False, description=meaning)
                          for name, meaning in headers],
            responses={**{status: _answer(answer) for status, answer in responses.items()},
                       **{status: OpenApiResponse(outputs.Error.ref(), description=MEANING[status])
                          for status in sorted(statuses)}},
        )  # fmt: skip

        def described(self: APIView, request: HttpRequest, **kwargs: Any) -> None:
            """Never called: it carries the operation's description for drf-spectacular."""

        # drf-spectacular documents a URL whose callback has ``cls`` like a DRF view of that class.
        doc = type(f"{handler.__name__}_doc", (APIView,), {
            "authentication_classes": (), "permission_classes": (), method.lower(): schema(described)})  # fmt: skip
        view.cls = doc  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
        return view

    return wrap


def _answer(answer: Answer) -> OpenApiResponse:
    if answer is None:
        return OpenApiResponse(description="no content")
    if isinstance(answer, type) and issubclass(answer, Shape):
        return OpenApiResponse(answer.ref(), description=" ".join((answer.__doc__ or "").split()))
    return OpenApiResponse(answer)


def by_method(**views: View) -> View:
    """One URL served by several endpoints, chosen by HTTP method (``GET=..., POST=...``)."""
    allowed = ", ".join(sorted(views))

    async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        chosen = views.get(request.method or "")
        if chosen is None:
            response = method_not_allowed(allowed)
            response["X-Request-Id"] = request.headers.get("X-Request-Id") or uuid.uuid4().hex
            return response
        return await chosen(request, **kwargs)

    view.csrf_exempt = True  # type: ignore[attr-defined]
    docs = tuple(v.cls for v in views.values())  # type: ignore[attr-defined]
    view.cls = type("".join(d.__name__ for d in docs), docs, {})  # type: ignore[attr-defined]
    view.initkwargs = {}  # type: ignore[attr-defined]
    return view
