"""Sending one webhook delivery: signed over the exact bytes sent, bounded in time, never redirected,
never to a private address unless the deployment allows it.

The pooled client connects through ``GuardedBackend``: at connect time it resolves the host itself,
refuses the connection when an address is not public (unless the delivery allows private targets) and
opens the socket to the address it checked, while TLS still verifies the certificate against the host
name (SNI and ``Host`` are the URL's). There is no second lookup between check and connect for DNS to
answer differently (rebinding), and no proxy from the environment can carry a delivery past the check.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio.to_thread
import httpcore
import httpx

from codeq_platform.webhooks.guard import BlockedAddress, public_addresses, resolve_public
from codeq_platform.webhooks.signing import signature_headers

RESPONSE_BODY_LIMIT = 1024
USER_AGENT = "codeq-platform-webhooks/1.0"

# Whether the delivery being sent may reach private addresses. A context variable because the check
# runs deep inside httpcore's connect, in the task of the delivery that opens the connection.
_allow_private: contextvars.ContextVar[bool] = contextvars.ContextVar("codeq_webhook_allow_private", default=False)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt came to, as recorded and shown to the tenant."""

    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address guard at the only place a socket is opened."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        resolve = functools.partial(public_addresses, host, port, allow_private=_allow_private.get())
        addresses = await anyio.to_thread.run_sync(resolve)
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("webhooks are never sent to a unix socket", field="url")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects through ``GuardedBackend``.

    httpx builds its pool without a way to pass a network backend, so the pool is replaced after
    construction; request and response mapping and exception translation stay httpx's own.
    """

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )


def new_client(
    *, connect_timeout: float = 5.0, read_timeout: float = 10.0, max_connections: int = 100
) -> httpx.AsyncClient:
    """The pooled client deliveries share: strict connect/read/write/pool timeouts, no redirects, no
    proxies or credentials from the environment."""
    return httpx.AsyncClient(
        transport=GuardedTransport(
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=30
            )
        ),
        timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    secrets: list[str],
    *,
    message_id: str,
    allow_private: bool,
    timeout: float,
) -> Attempt:
    """POST ``body`` to ``url`` signed with ``secrets`` (current first); never raises for the
    receiver's or the network's failures, which are the Attempt's ``error``.

    ``timeout`` bounds the whole attempt, lookup and response included. A 2xx is success; a 3xx is a
    failure (redirects are not followed, so a receiver cannot bounce a delivery to another address).
    """
    headers = {
        "Content-Type": "application/json",
        **signature_headers(body, secrets=secrets, message_id=message_id, timestamp=int(time.time())),
    }
    started = time.perf_counter()
    token = _allow_private.set(allow_private)
    try:
        async with asyncio.timeout(timeout):
            if not allow_private:
                # A kept-alive connection is not checked again at connect time, so the name is
                # checked before every delivery too.
                await anyio.to_thread.run_sync(functools.partial(resolve_public, url, allow_private=False))
            async with client.stream("POST", url, content=body, headers=headers) as response:
                head = await _read_head(response)
    except BlockedAddress as exc:
        return Attempt(False, None, _since(started), exc.message, "")
    except TimeoutError:
        return Attempt(False, None, _since(started), f"timed out after {timeout:g} s", "")
    except httpx.TimeoutException as exc:
        return Attempt(False, None, _since(started), f"timed out ({type(exc).__name__})", "")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Attempt(False, None, _since(started), f"{type(exc).__name__}: {exc}".rstrip(": "), "")
    finally:
        _allow_private.reset(token)
    status = response.status_code
    if 200 <= status < 300:
        return Attempt(True, status, _since(started), None, head)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirect to {response.headers.get('location', '?')} not followed"
    else:
        error = f"HTTP {status}"
    return Attempt(False, status, _since(started), error, head)


async def _read_head(response: httpx.Response) -> str:
    """The start of the receiver's answer; the rest is never downloaded."""
    head = bytearray()
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= RESPONSE_BODY_LIMIT:
            break
    return head[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace")


def loggable(url: str) -> str:
    """``url`` without credentials or query string, for logs: receivers often carry a token there."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed url)"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
