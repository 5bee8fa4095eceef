"""A worker's wake-up receiver: a small HTTP endpoint the platform calls when work arrives.

The worker subscribes it (``POST /workers/subscriptions``) for its commands, renews the subscription
every third of its TTL and removes it on stop. Each call is verified with the tenant's signing secret
(``codeq.webhooks.verify``); a valid one wakes the worker's idle pollers, anything else gets 401. A
wake-up is advisory: the worker still claims, and still polls now and then in case one is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from codeq import errors
from codeq.client import AsyncClient
from codeq.webhooks import WebhookVerificationError, verify

log = logging.getLogger("codeq.wakeups")
MAX_BODY = 64 * 1024


class WakeupReceiver:
    """Listens on ``host:port`` (port 0: any free one) and subscribes ``url`` (default: the address it
    listens on) with ``secret``, the tenant's ``whsec_`` signing secret (several while rotating)."""

    def __init__(
        self,
        *,
        secret: str | Iterable[str],
        host: str = "127.0.0.1",
        port: int = 0,
        url: str | None = None,
        ttl_seconds: int = 300,
        min_interval_seconds: int | None = None,
        delivery_mode: str | None = None,
        group_id: str | None = None,
    ) -> None:
        self.secrets = [secret] if isinstance(secret, str) else list(secret)
        self.host, self.port, self.url = host, port, url
        self.ttl_seconds = ttl_seconds
        self.min_interval_seconds = min_interval_seconds
        self.delivery_mode, self.group_id = delivery_mode, group_id
        self.received = 0
        self.rejected = 0
        self.subscription_id: str | None = None
        self.commands: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._renewing: asyncio.Task[None] | None = None

    async def start(self, client: AsyncClient, commands: list[str], wake: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                try:
                    verify(self.headers.items(), body, receiver.secrets)
                except WebhookVerificationError as exc:
                    receiver.rejected += 1
                    log.warning("wake-up refused: %s", exc)
                    self._answer(401)
                    return
                receiver.received += 1
                loop.call_soon_threadsafe(wake)
                self._answer(204)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="codeq-wakeups", daemon=True).start()
        self.port = self._server.server_address[1]
        self.url = self.url or f"http://{self.host}:{self.port}/"
        self.commands = commands
        await self._subscribe(client)
        self._renewing = asyncio.create_task(self._renew(client))
        log.info("wake-ups at %s (subscription %s)", self.url, self.subscription_id)

    async def _subscribe(self, client: AsyncClient) -> None:
        subscription = await client.subscribe(
            self.url or "",
            event_types=self.commands,
            ttl_seconds=self.ttl_seconds,
            delivery_mode=self.delivery_mode,
            group_id=self.group_id,
            min_interval_seconds=self.min_interval_seconds,
        )
        self.subscription_id = subscription.subscription_id

    async def _renew(self, client: AsyncClient) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.ttl_seconds / 3))
            try:
                await client.renew_subscription(self.subscription_id or "", ttl_seconds=self.ttl_seconds)
            except errors.NotFound:  # it lapsed (the platform was unreachable for a whole TTL): make a new one
                await self._subscribe(client)
            except errors.CodeqError as exc:
                log.warning("renewing the wake-up subscription failed (%s)", exc)

    async def stop(self, client: AsyncClient) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        if self.subscription_id is not None:
            with contextlib.suppress(errors.CodeqError):
                await client.unsubscribe(self.subscription_id)
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
