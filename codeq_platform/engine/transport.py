"""How calls reach the store: a lean link per face over one connection.

redis-py's client API costs about 65 µs of Python per command on this machine class (pool
checkout, retry wrapper, response callbacks), more than the store needs to run a script. So:

- ``SyncLink`` keeps one redis-py connection per thread and talks to it directly
  (``send_command`` / ``read_response``: hiredis parses, nothing else runs).
- ``AsyncLink`` multiplexes every coroutine of a process over one connection of its own, with
  hiredis: all commands issued in one turn of the event loop go out in one write and the replies
  are matched in order (auto-pipelining), each only to a command of the connection it came on.
  A waiting coroutine costs a future, not a connection.
  A ``rediss://`` client's connection is wrapped in TLS with the context redis-py builds from
  the client's own TLS options.

For a cluster client both fall back to redis-py's own cluster routing. Connection failures and
timeouts raise redis-py's ConnectionError / TimeoutError, which the engine turns into
StoreUnavailable. A call is sent again only if the store cannot have received it: once a command
may have run, a lost reply is reported, never answered by running it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
import time
from collections import deque
from typing import Any

import hiredis
import redis
import redis.asyncio
from redis.exceptions import BusyLoadingError, NoScriptError, ResponseError


def _is_cluster(client: Any) -> bool:
    return not hasattr(client, "connection_pool")


class _Held:
    """A pooled connection checked out by one thread; it goes back to the pool when the thread ends
    (its thread-local storage is dropped) or the link is closed."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.conn = pool.get_connection()

    def release(self) -> None:
        if self.conn is not None:
            self.pool.release(self.conn)
            self.conn = None

    def __del__(self) -> None:
        # Runs at thread exit or interpreter shutdown, when the pool may be gone: nothing to report then.
        with contextlib.suppress(Exception):
            self.release()


class SyncLink:
    """One pooled redis-py connection per thread, driven without the client's per-command machinery
    (a checkout per call alone costs ~23 µs here)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cluster = _is_cluster(client)
        self._local = threading.local()

    def _conn(self) -> Any:
        held = getattr(self._local, "held", None)
        if held is None or held.conn is None:
            held = self._local.held = _Held(self.client.connection_pool)
        return held.conn

    def execute(self, args: tuple[Any, ...]) -> Any:
        """Send one command and read its reply. A command is sent again only when it cannot have
        reached the store (the send itself failed); once sent, a lost reply is the caller's error,
        never a second execution."""
        if self.cluster:
            return self.client.execute_command(*args)
        conn = self._conn()
        packed = [hiredis.pack_command(args)]
        try:
            # Readable while idle means EOF or stray bytes: the server restarted or the link broke.
            stale = conn.can_read(timeout=0)
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            stale = True
        if stale:
            conn.disconnect()
        try:
            conn.send_packed_command(packed, check_health=False)
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            conn.send_packed_command(packed, check_health=False)
        try:
            return conn.read_response()
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            raise

    def execute_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        if self.cluster:
            pipe = self.client.pipeline(transaction=False)
            for args in commands:
                pipe.execute_command(*args)
            return list(pipe.execute())
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.send_packed_command(conn.pack_commands(commands))
                replies, error = [], None
                for _ in commands:
                    try:
                        replies.append(conn.read_response())
                    except ResponseError as exc:
                        error = error or exc
                        replies.append(exc)
                if error is not None:
                    raise error
                return replies
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Give this thread's connection back to the pool."""
        held = getattr(self._local, "held", None)
        if held is not None:
            held.release()
            self._local.held = None


def _reply_error(err: hiredis.ReplyError) -> redis.RedisError:
    """The error redis-py's own parser would raise: a store still loading its data after a restart
    is unavailable (``BusyLoadingError`` is a ``ConnectionError``), not a failed command."""
    text = str(err)
    if text.startswith("NOSCRIPT"):
        return NoScriptError(text)
    if text.startswith("LOADING"):
        return BusyLoadingError(text)
    return ResponseError(text)


_REFUSED = "ERR max number of clients"


class _Protocol(asyncio.Protocol):
    """One connection of an ``AsyncLink`` and the commands it carries: the bytes not yet written and,
    in order, the future of each command written. A reply goes only to a command of the connection
    it arrived on, so a command can never be answered with another one's reply."""

    def __init__(self, link: AsyncLink) -> None:
        self.link = link
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        self.outbox: list[bytes] = []
        self.waiters: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.flush_scheduled = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.lost = False

    def open(self) -> bool:
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        reply = self.reader.gets()
        while reply is not False:
            # Over its maxclients the store says so unasked and closes: whatever was sent is not run.
            if not self.waiters or (isinstance(reply, hiredis.ReplyError) and str(reply).startswith(_REFUSED)):
                self._refuse(f"the store refused the connection: {reply}")
                return
            fut, _ = self.waiters.popleft()
            if not fut.done():
                if isinstance(reply, hiredis.ReplyError):
                    fut.set_exception(_reply_error(reply))
                else:
                    fut.set_result(reply)
            reply = self.reader.gets()

    def connection_lost(self, exc: Exception | None) -> None:
        self.link._lost(self, redis.ConnectionError(f"connection to the store lost: {exc or 'closed'}"))

    def _refuse(self, reason: str) -> None:
        """The store refused this connection: it is lost now, before its close arrives."""
        self.link._lost(self, redis.ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def fail(self, exc: Exception) -> None:
        """The connection is gone: every command it carries fails with ``exc``, none is sent again."""
        self.lost = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        self.outbox = []
        waiters, self.waiters = self.waiters, deque()
        for fut, _ in waiters:
            if not fut.done():
                fut.set_exception(exc)


def _tls_context(pool: Any) -> ssl.SSLContext | None:
    """The TLS context of a ``rediss://`` client, built by redis-py from the client's TLS options
    (CA, client certificate and key, verification), so both paths verify alike."""
    if not issubclass(pool.connection_class, redis.asyncio.SSLConnection):
        return None
    context: ssl.SSLContext = pool.connection_class(**pool.connection_kwargs).ssl_context.get()
    return context


class AsyncLink:
    """Every coroutine of the process over one auto-pipelined connection.

    A command is queued on the connection that is open at that moment, never on one that was lost
    while the caller waited for it (a store killed or restarting drops connections as they are
    made): that command goes out on a new connection, as it cannot have reached the store."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cluster = _is_cluster(client)
        kwargs = {} if self.cluster else client.connection_pool.connection_kwargs
        self.timeout = float(kwargs.get("socket_timeout") or 5.0)
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def _connect(self) -> _Protocol:
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            kw = self.client.connection_pool.connection_kwargs
            factory = lambda: _Protocol(self)  # noqa: E731
            connect_timeout = kw.get("socket_connect_timeout") or self.timeout
            try:
                if kw.get("path"):
                    coro = loop.create_unix_connection(factory, kw["path"])
                else:
                    host = kw.get("host", "127.0.0.1")
                    tls = _tls_context(self.client.connection_pool)
                    coro = loop.create_connection(factory, host, kw.get("port", 6379), ssl=tls,
                                                  server_hostname=host if tls else None)  # fmt: skip
                _, protocol = await asyncio.wait_for(coro, connect_timeout)
            except (TimeoutError, OSError) as exc:
                raise redis.ConnectionError(f"cannot connect to the store: {exc}") from exc
            if not protocol.open():  # closed by the store before this coroutine ran again
                raise redis.ConnectionError("the store closed the connection as it was made")
            self._protocol = protocol
            setup = []
            if kw.get("password"):
                setup.append(("AUTH", kw["username"], kw["password"]) if kw.get("username")
                             else ("AUTH", kw["password"]))  # fmt: skip
            if kw.get("db"):
                setup.append(("SELECT", kw["db"]))
            for args in setup:
                await self._send(protocol, args)
            self._connecting.set_result(protocol)
            return protocol
        except BaseException as exc:
            self._connecting.set_exception(exc)
            self._connecting.exception()
            raise
        finally:
            self._connecting = None

    async def _open(self) -> _Protocol:
        """The open connection, made if there is none (connecting is tried twice). Returns only a
        connection that is still the link's own, so the caller may queue on it before awaiting."""
        for attempt in (0, 1, 2):
            protocol = self._protocol
            if protocol is not None and not protocol.open():
                self._lost(protocol, redis.ConnectionError("connection to the store closed"))
                protocol = None
            if protocol is None:
                try:
                    protocol = await self._connect()
                except (redis.ConnectionError, redis.TimeoutError):
                    if attempt:
                        raise
                    continue
            if protocol is self._protocol and protocol.open():
                return protocol
        raise redis.ConnectionError("connection to the store lost as it was made")

    def _send(self, protocol: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        protocol.outbox.append(hiredis.pack_command(args))
        protocol.waiters.append((fut, time.monotonic()))
        if not protocol.flush_scheduled:
            protocol.flush_scheduled = True
            loop.call_soon(self._flush, protocol)
        if protocol.watchdog is None:
            protocol.watchdog = loop.call_later(self.timeout, self._check_timeouts, protocol)
        return fut

    def _flush(self, protocol: _Protocol) -> None:
        protocol.flush_scheduled = False
        outbox, protocol.outbox = protocol.outbox, []
        if outbox and protocol.open() and protocol.transport is not None:
            protocol.transport.write(b"".join(outbox))

    def _check_timeouts(self, protocol: _Protocol) -> None:
        protocol.watchdog = None
        if not protocol.waiters or protocol.lost:
            return
        if time.monotonic() - protocol.waiters[0][1] >= self.timeout:
            self._lost(protocol, redis.TimeoutError("the store did not answer in time"))
            if protocol.transport is not None:
                protocol.transport.abort()
            return
        protocol.watchdog = asyncio.get_running_loop().call_later(self.timeout / 2, self._check_timeouts, protocol)

    def _lost(self, protocol: _Protocol, exc: Exception) -> None:
        if protocol is self._protocol:
            self._protocol = None
        protocol.fail(exc)

    async def execute(self, args: tuple[Any, ...]) -> Any:
        """Queue one command on the shared connection. A command once queued is never sent again
        (its reply lost means the caller's error, not a second run)."""
        if self.cluster:
            return await self.client.execute_command(*args)
        return await self._send(await self._open(), args)

    async def execute_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        if self.cluster:
            pipe = self.client.pipeline(transaction=False)
            for args in commands:
                pipe.execute_command(*args)
            return list(await pipe.execute())
        return list(await asyncio.gather(*(self.execute(args) for args in commands)))

    async def aclose(self) -> None:
        protocol = self._protocol
        if protocol is not None:
            self._lost(protocol, redis.ConnectionError("the link was closed"))
            if protocol.transport is not None:
                protocol.transport.close()
