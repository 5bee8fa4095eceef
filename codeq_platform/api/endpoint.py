"""The frame of every async JSON endpoint: auth, role, rate limit, body limits, one error shape.

The hot path avoids DRF's request machinery (it costs ~0.5 ms a request here, more than the rest of
a claim): an endpoint is a plain async Django view wrapped by ``endpoint``. Each one still names a
DRF view class (``doc``) that describes it for drf-spectacular, so the OpenAPI schema is generated
from the code like any DRF API's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import auth, traffic
from codeq_platform.api.errors import error_body, error_response, json_response
from codeq_platform.api.metrics import REQUEST_SECONDS
from codeq_platform.base import kv
from codeq_platform.engine import jsontext
from codeq_platform.engine.keys import rate_key

Handler = Callable[..., Awaitable[HttpResponse]]

# The role table is auth's, shared with the DRF views' permission classes.
PRODUCE = auth.CanProduce.roles
WORK = auth.CanWork.roles
READ = auth.CanRead.roles
ADMIN = auth.IsAdmin.roles


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


def endpoint(*, methods: tuple[str, ...], roles: frozenset[str], operation: str, doc: type | None = None):
    """Wrap ``handler(request, principal, **url_kwargs)`` as an authenticated JSON endpoint."""

    def wrap(handler: Handler) -> Callable[..., Awaitable[HttpResponse]]:
        timer = REQUEST_SECONDS.labels(operation)

        async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            started = time.perf_counter()
            request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
            tenant = ""
            try:
                if request.method not in methods:
                    response = json_response(error_body("method not allowed", "method_not_allowed"), 405,
                                             {"Allow": ", ".join(methods)})  # fmt: skip
                else:
                    principal = await auth.aauthenticate_bearer(request.headers.get("Authorization"))
                    tenant = principal.tenant_slug
                    auth.ensure_role(principal, roles)
                    kv.register_tenant(principal.tenant_slug, principal.shards)
                    await check_rate(principal, operation)
                    response = await handler(request, principal, **kwargs)
            except errors.CodeqError as exc:
                response = error_response(exc)
            except (redis.ConnectionError, redis.TimeoutError) as exc:  # the token cache shares the store
                response = error_response(errors.StoreUnavailable(f"the store is unavailable: {exc}"))
            except auth.InvalidBearer as exc:
                response = error_response(errors.Unauthenticated(exc.message))
            except auth.Forbidden:
                response = error_response(errors.Forbidden("forbidden"))
            if tenant:
                traffic.note(tenant, throttled=response.status_code == 429)
            response["X-Request-Id"] = request_id
            timer.observe(time.perf_counter() - started)
            return response

        view.csrf_exempt = True  # type: ignore[attr-defined]
        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        if doc is not None:
            # drf-spectacular documents a URL whose callback has ``cls`` like a DRF view of that class.
            view.cls = doc  # type: ignore[attr-defined]
            view.initkwargs = {}  # type: ignore[attr-defined]
        return view

    return wrap


def by_method(**views: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
    """One URL served by several endpoints, chosen by HTTP method (``GET=..., POST=...``)."""
    allowed = ", ".join(sorted(views))

    async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        chosen = views.get(request.method or "")
        if chosen is None:
            return json_response(error_body("method not allowed", "method_not_allowed"), 405, {"Allow": allowed})
        return await chosen(request, **kwargs)

    view.csrf_exempt = True  # type: ignore[attr-defined]
    docs = tuple(v.cls for v in views.values() if hasattr(v, "cls"))
    if docs:
        view.cls = type("".join(d.__name__ for d in docs), docs, {})  # type: ignore[attr-defined]
        view.initkwargs = {}  # type: ignore[attr-defined]
    return view
