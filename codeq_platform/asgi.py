"""ASGI entry point: a fast lane for the async API endpoints, Django's full handler for the rest.

Django's ASGI handler runs every middleware hook and request signal through ``sync_to_async``
and gives every request a thread of its own: about 5 ms of a 2-core machine per request, 20 times
what the queue operation itself costs. The API's async endpoints need none of it (they do their
own auth, limits and error rendering), so requests that resolve to a coroutine view are served
here directly (``fastlane.py``): route, build a lean request, await the view, send the response.
Everything else (the dashboard, Django admin, static files, the OpenAPI and Swagger pages, unknown
paths) goes through Django. Websockets (the dashboard's live stats) go through Channels, with the
session's user and an origin check against ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from http import HTTPStatus

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeq_platform.settings")

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402  (settings are ready only after the handler exists)

from codeq_platform import errors  # noqa: E402
from codeq_platform.api.errors import error_body, json_response, server_error  # noqa: E402
from codeq_platform.fastlane import LeanRequest, Router  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402

log = logging.getLogger("codeq.api")
API_PREFIX = "/v1/codeq/"


# A body past the limit is read on and dropped, so the next request of a keep-alive connection starts where
# it should; past this many bytes more, the connection is closed instead.
DRAIN_BYTES = 64 * 1024 * 1024


async def _read_body(receive, limit: int) -> tuple[bytes | None, bool]:
    """(the whole request body, or None once it passes ``limit``; whether it was read to its end)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        more = message.get("more_body", False)
        if size > limit:
            while more and size <= limit + DRAIN_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise asyncio.CancelledError
                size += len(message.get("body", b""))
                more = message.get("more_body", False)
            return None, not more
        chunks.append(chunk)
        if not more:
            return b"".join(chunks), True


def _request_id(scope) -> str:
    """The caller's ``X-Request-Id``, or a new 32-hex one (reference §1)."""
    for name, value in scope["headers"]:
        if name.lower() == b"x-request-id" and value:
            return value.decode("latin-1")
    return uuid.uuid4().hex


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";")[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


def _error_for(status: int) -> dict[str, object]:
    if status == 404:
        return error_body("not found", errors.NotFound.code)
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = "error"
    return error_body(phrase, phrase.replace(" ", "_").replace("-", "_"))


def _django_send(scope, send, request_id: str):
    """``send`` for a response Django makes: it carries the request id, and under the API prefix an
    error that is not JSON (Django's plain 405 of the Swagger page, say) is answered in the error
    shape instead."""
    api = scope["path"].startswith(API_PREFIX)
    held: list[dict] = []

    async def send_with_id(message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
            headers.append((b"x-request-id", request_id.encode("latin-1")))
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            message = {**message, "headers": headers}
            if api and message["status"] >= 400 and not _is_json(content_type):
                held.append(message)
                return
        elif held and message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            start = held[0]
            response = json_response(_error_for(start["status"]), start["status"])
            for name, value in start["headers"]:
                if name.lower() in (b"allow", b"x-request-id", b"retry-after", b"www-authenticate"):
                    response[name.decode("latin-1")] = value.decode("latin-1")
            return await _send(send, response)
        await send(message)

    return send_with_id


async def _send(send, response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    body = response.content
    if not response.has_header("Content-Length"):
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_router: Router | None = None


async def http_application(scope, receive, send) -> None:
    global _router
    if _router is None:
        _router = Router()
    match = _router.match(scope["path"])
    if match is None:
        return await django_application(scope, receive, _django_send(scope, send, _request_id(scope)))
    view, kwargs = match
    body, read_to_end = await _read_body(receive, settings.CODEQ_MAX_BODY_BYTES)
    if body is None:
        response = json_response(error_body("request body too large", "payload_too_large"), 413)
        if not read_to_end:  # the rest of it is still on the wire: this connection cannot carry another request
            response["Connection"] = "close"
    else:
        request = LeanRequest(scope, body)
        try:
            response = await view(request, **kwargs)
        except Exception:  # a bug: log it, answer the JSON 500, never a traceback
            log.exception("unhandled error in %s %s", scope.get("method"), scope["path"])
            response = server_error(request)
    if not response.has_header("X-Request-Id"):  # the API's endpoints set it themselves
        response["X-Request-Id"] = _request_id(scope)
    await _send(send, response)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
