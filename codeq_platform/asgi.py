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

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeq_platform.settings")

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402  (settings are ready only after the handler exists)

from codeq_platform.api.errors import error_body, json_response, server_error  # noqa: E402
from codeq_platform.fastlane import LeanRequest, Router  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402

log = logging.getLogger("codeq.api")


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` (the rest is not read)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


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
        return await django_application(scope, receive, send)
    view, kwargs = match
    body = await _read_body(receive, settings.CODEQ_MAX_BODY_BYTES)
    if body is None:
        response = json_response(error_body("request body too large", "payload_too_large"), 413)
        return await _send(send, response)
    request = LeanRequest(scope, body)
    try:
        response = await view(request, **kwargs)
    except Exception:  # a bug: log it, answer the JSON 500, never a traceback
        log.exception("unhandled error in %s %s", scope.get("method"), scope["path"])
        response = server_error(request)
    await _send(send, response)


application = ProtocolTypeRouter(
    {
        "http": http_application,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
