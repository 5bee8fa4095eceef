"""How every component reaches the store: one place for URLs, the protocol, TLS and cluster nodes.

- ``redis://``, ``rediss://`` (TLS), ``unix://``; ``redis+cluster://`` and ``rediss+cluster://`` select
  a cluster client (Redis Cluster or a KVRocks cluster) seeded from that node.
- Every client speaks RESP2: KVRocks' stock configuration (``resp3-enabled no``) answers ``HELLO 3``
  with a flat list, which redis-py's default RESP3 handshake cannot read.
- TLS: the CA that signed the server's certificate, and a client certificate and key where the
  server asks for one (``TLS``); they apply to ``rediss`` URLs only.
- Pub/sub on a cluster: a ``PUBLISH`` made inside a script runs on the node that owns the script's
  slot. Redis Cluster forwards it to every node; a KVRocks cluster does not (it has no cluster bus),
  so a listener that must hear scripts' messages subscribes on every primary there
  (``listen_urls``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
TOPOLOGY_CHECK_SECONDS = 30.0


@dataclass(frozen=True)
class TLS:
    """Files for ``rediss`` connections: the CA bundle that verifies the server (empty: the system's),
    and the client certificate and key a server with ``tls-auth-clients`` asks for."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.ca_file:
            options["ssl_ca_certs"] = self.ca_file
        if self.cert_file:
            options["ssl_certfile"] = self.cert_file
        if self.key_file:
            options["ssl_keyfile"] = self.key_file
        return options


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in CLUSTER_SCHEMES


def node_url(url: str) -> str:
    """The URL of the node ``url`` names, without the cluster marker."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)))


def options(url: str, tls: TLS | None = None) -> dict[str, Any]:
    """What every client of ``url`` is built with: RESP2 and, for TLS URLs, the TLS files."""
    found: dict[str, Any] = {"protocol": 2}
    if node_url(url).startswith("rediss://") and tls is not None:
        found.update(tls.options())
    return found


def connect(url: str, tls: TLS | None = None, **extra: Any) -> Any:
    """A sync client: ``redis.RedisCluster`` for a cluster URL, ``redis.Redis`` otherwise."""
    kwargs = {**options(url, tls), **extra}
    if is_cluster(url):
        return redis.RedisCluster.from_url(node_url(url), **kwargs)
    return redis.Redis.from_url(url, **kwargs)


def connect_async(url: str, tls: TLS | None = None, **extra: Any) -> Any:
    """An asyncio client, as ``connect``."""
    kwargs = {**options(url, tls), **extra}
    if is_cluster(url):
        return redis.asyncio.RedisCluster.from_url(node_url(url), **kwargs)
    return redis.asyncio.Redis.from_url(url, **kwargs)


def _with_address(url: str, host: str, port: int) -> str:
    parts = urlsplit(node_url(url))
    credentials = parts.netloc.rpartition("@")[0]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{address}" if credentials else address))


async def listen_urls(url: str, tls: TLS | None = None) -> list[str]:
    """The nodes a listener subscribes on to hear every ``PUBLISH`` made inside a script: the node of
    ``url`` itself, except on a KVRocks cluster, where it is every primary (messages stay on their node)."""
    if not is_cluster(url):
        return [url]
    seed: Any = redis.asyncio.Redis.from_url(node_url(url), **options(url, tls))
    try:
        info = await seed.info("server")
        if "kvrocks_version" not in info:
            return [node_url(url)]
        ranges = await seed.execute_command("CLUSTER", "SLOTS")
    finally:
        await seed.aclose()
    primaries = set()
    for entry in ranges:
        host, port = entry[2][0], int(entry[2][1])
        primaries.add((host.decode() if isinstance(host, bytes) else host, port))
    return [_with_address(url, host, port) for host, port in sorted(primaries)]


async def psubscribe(url: str, pattern: str, tls: TLS | None = None, *,
                     on_ready: Callable[[], None] = lambda: None) -> AsyncIterator[tuple[str, bytes]]:  # fmt: skip
    """Yield ``(channel, data)`` of every message published on a channel matching ``pattern``, heard on
    every node ``listen_urls`` names; ``on_ready`` runs once all of them are subscribed.

    Raises redis-py's ConnectionError when any node's connection is lost or the cluster's primaries
    change (checked every ``TOPOLOGY_CHECK_SECONDS``): the caller subscribes again.
    """
    urls = await listen_urls(url, tls)
    clients: list[Any] = [redis.asyncio.Redis.from_url(u, **options(url, tls)) for u in urls]
    inbox: asyncio.Queue[tuple[str, bytes] | BaseException] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []

    async def relay(pubsub: Any) -> None:
        try:
            async for message in pubsub.listen():
                if message["type"] == "pmessage":
                    inbox.put_nowait((message["channel"].decode(), message["data"]))
        except Exception as exc:  # handed to the consumer, which raises it
            inbox.put_nowait(exc)

    async def watch_topology() -> None:
        try:
            while True:
                await asyncio.sleep(TOPOLOGY_CHECK_SECONDS)
                if await listen_urls(url, tls) != urls:
                    inbox.put_nowait(redis.ConnectionError("the cluster's primaries changed"))
                    return
        except Exception as exc:
            inbox.put_nowait(exc)

    pubsubs = [client.pubsub() for client in clients]
    try:
        for pubsub in pubsubs:
            await pubsub.psubscribe(pattern)
        tasks = [asyncio.create_task(relay(p)) for p in pubsubs]
        if len(urls) > 1:
            tasks.append(asyncio.create_task(watch_topology()))
        on_ready()
        while True:
            item = await inbox.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for pubsub in pubsubs:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()
