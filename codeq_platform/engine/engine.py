"""The two faces of the engine, ``Engine`` (sync) and ``AsyncEngine`` (asyncio), over one core.

Both run the plans of ``core.Core``; they differ only in how a yielded call reaches the store,
over the links of ``transport.py``. Scripts are called by SHA; after ``SCRIPT FLUSH`` or a restart
of a server that forgot them, the call falls back to EVAL with the source, which also caches the
script again. Connection loss, timeouts and cluster outages surface as ``StoreUnavailable`` and
nothing else.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import ClusterDownError, ClusterError, NoScriptError, ResponseError, TryAgainError

from codeq_platform.engine import activity, store
from codeq_platform.engine.core import Core, EngineConfig, Plan
from codeq_platform.engine.transport import AsyncLink, SyncLink
from codeq_platform.errors import StoreUnavailable

SCRIPT_DIR = Path(__file__).with_name("scripts")
OPERATIONS = ("enqueue", "claim", "heartbeat", "complete", "fail", "settle_batch", "nack", "abandon", "progress",
              "cancel", "delete", "replay", "sweep", "trim", "outbox_ack")  # fmt: skip
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ClusterDownError, ClusterError, TryAgainError)


def _load_sources() -> dict[str, tuple[str, bytes]]:
    """Each operation's source: its file behind the parts of lib.lua it uses.

    lib.lua is a prologue followed by ``local function`` and ``local`` definitions; only the
    definitions an operation reaches (directly or through another definition) are included,
    because Lua builds every closure of a script on every call and unused ones cost time on the
    hot path.
    """
    lib = (SCRIPT_DIR / "lib.lua").read_text()
    first = lib.index("\nlocal function ")
    prologue, rest = lib[:first], lib[first:]
    pieces = re.split(r"\n(?=local (?:function )?\w+ = |local function )", rest)
    defs = []
    for piece in pieces:
        match = re.match(r"\s*local (?:function )?(\w+)", piece)
        if match:
            defs.append((match.group(1), piece))
    sources = {}
    for name in OPERATIONS:
        body = (SCRIPT_DIR / f"{name}.lua").read_text()
        needed: set[str] = set()
        todo = [body]
        while todo:
            text = todo.pop()
            for def_name, piece in defs:
                if def_name not in needed and re.search(rf"\b{def_name}\b", text):
                    needed.add(def_name)
                    todo.append(piece)
        included = "\n".join(piece for def_name, piece in defs if def_name in needed or def_name == "begin")
        source = f"{prologue}\n{included}\nbegin()\n{body}"
        sources[name] = (hashlib.sha1(source.encode()).hexdigest(), source.encode())
    return sources


def _library() -> tuple[str, dict[str, str], bytes]:
    """The FUNCTION library: lib.lua runs once when it is loaded, and each operation is a registered
    function, so a call pays for no prologue (about 28 µs a call less than EVAL here)."""
    lib = (SCRIPT_DIR / "lib.lua").read_text()
    bodies = {name: (SCRIPT_DIR / f"{name}.lua").read_text() for name in OPERATIONS}
    digest = hashlib.sha1((lib + "".join(bodies.values())).encode()).hexdigest()[:12]
    names = {name: f"cq_{digest}_{name}" for name in OPERATIONS}
    code = [f"#!lua name=codeq_{digest}", "local KEYS, ARGV", lib]
    for name, body in bodies.items():
        code.append(f"redis.register_function('{names[name]}', function(keys, args)\nKEYS, ARGV = keys, args\n"
                    f"begin()\n{body}\nend)")  # fmt: skip
    return f"codeq_{digest}", names, "\n".join(code).encode()


SOURCES = _load_sources()
LIBRARY, FUNCTIONS, LIBRARY_CODE = _library()


class _Face:
    """What both faces share: the core and the public verbs, each one plan run by ``_run``."""

    core: Core
    _run: Callable[[Plan], Any]
    _functions: bool | None = None  # None until the first script call finds out

    def __init__(self, client: Any, config: EngineConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.client = client
        self.core = Core(config or EngineConfig(), clock)
        self.marks = activity.Marks(self.core)
        core = self.core
        for verb in ("enqueue", "enqueue_batch", "settle_batch", "claim", "heartbeat", "nack", "abandon", "progress",
                     "cancel", "delete", "replay", "replay_many", "replay_all", "delete_many",
                     "purge_dlq", "sweep", "trim", "get_task", "get_result", "get_results", "commands",
                     "queue_stats", "leases", "delayed", "dlq", "dlq_count", "ready", "watch_events",
                     "outbox", "outbox_ack"):  # fmt: skip
            setattr(self, verb, partial(self._call, getattr(core, verb)))

    def _call(self, plan_fn: Callable[..., Plan], *args: Any, **kwargs: Any) -> Any:
        return self._run(plan_fn(*args, **kwargs))

    @property
    def config(self) -> EngineConfig:
        return self.core.config

    def run(self, plan: Plan) -> Any:
        """Run a plan made outside the core (the scheduler's activity-index plans, engine/activity.py)."""
        return self._run(plan)

    def register_tenant(self, tenant: str, shards: int) -> None:
        """Spread ``tenant``'s keys over ``shards`` hash slots (default: ``config.shards``). A tenant's
        shard count is part of its key layout: set it before the tenant's first task, never change it."""
        if not 1 <= shards <= 1024:
            raise ValueError("shards must be between 1 and 1024")
        self.core.tenant_shards[tenant] = shards

    def complete(self, tenant: str, task_id: str, worker: str, result: Any, **kw: Any) -> Any:
        """Store a COMPLETED result (any JSON); ``next_commands=[...]`` claims the next task too."""
        return self._run(self.core.settle(tenant, task_id, worker, completed=True, result=result, **kw))

    def fail(self, tenant: str, task_id: str, worker: str, error: str, **kw: Any) -> Any:
        """Store a final FAILED result: never retried, never dead-lettered."""
        return self._run(self.core.settle(tenant, task_id, worker, completed=False, error=error, **kw))


class Engine(_Face):
    """The synchronous engine, for the scheduler, the dashboard and management commands."""

    def __init__(self, client: Any, config: EngineConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        super().__init__(client, config, clock)
        self.link = SyncLink(client)

    def _run(self, plan: Plan) -> Any:
        try:
            call = next(plan)
            while True:
                call = plan.send(self._do(call))
        except StopIteration as stop:
            self._mark(stop.value)
            return stop.value

    def _mark(self, result: Any) -> None:
        """Tell the scheduler's activity index what the operation changed (engine/activity.py)."""
        calls = self.marks.calls(result)
        if calls:
            try:
                self._do(("pipe", calls))
            except StoreUnavailable:  # the operation itself succeeded; the next one writes again
                self.marks.forget()

    def _do(self, call: tuple) -> Any:
        try:
            kind = call[0]
            if kind == "script":
                return self._script(call[1], call[2], call[3])
            if kind == "cmd":
                return self.link.execute(call[1])
            if kind == "pipe":
                return self.link.execute_many(call[1])
            return [self._script(c[1], c[2], c[3]) for c in call[1]]
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._functions is None:
            self._functions = self._load_library() is not None
        if self._functions:
            call = ("FCALL", FUNCTIONS[name], len(keys), *keys, *args)
            try:
                return self.link.execute(call)
            except ResponseError:
                # A flushed or restarted server lost the library: load it and call again. Any other
                # error (the library is there) is the script's own and goes to the caller.
                if self._load_library():
                    return self.link.execute(call)
                raise
        sha, body = SOURCES[name]
        try:
            return self.link.execute(("EVALSHA", sha, len(keys), *keys, *args))
        except NoScriptError:
            return self.link.execute(("EVAL", body, len(keys), *keys, *args))

    def _load_library(self) -> bool | None:
        """Load the FUNCTION library unless it is there: True when this call loaded it, False when it
        was there already, None where the server has no functions (Redis 6, the embedded server) or the
        client is a cluster client (scripts route by key). The answer depends on the store alone, so
        concurrent first calls of the asyncio face all reach the same conclusion."""
        if self.link.cluster:
            return None
        try:
            if self.link.execute(("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY)):
                return False
            self.link.execute(("FUNCTION", "LOAD", "REPLACE", LIBRARY_CODE))
        except ResponseError:
            return None
        return True

    def close(self) -> None:
        """Close this thread's connection (the client's pool is the caller's)."""
        self.link.close()


class AsyncEngine(_Face):
    """The asyncio engine, for the API's hot path."""

    def __init__(self, client: Any, config: EngineConfig | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        super().__init__(client, config, clock)
        self.link = AsyncLink(client)

    async def _run(self, plan: Plan) -> Any:  # type: ignore[override]
        try:
            call = next(plan)
            while True:
                call = plan.send(await self._do(call))
        except StopIteration as stop:
            await self._mark(stop.value)
            return stop.value

    async def _mark(self, result: Any) -> None:
        """As ``Engine._mark``."""
        calls = self.marks.calls(result)
        if calls:
            try:
                await self._do(("pipe", calls))
            except StoreUnavailable:
                self.marks.forget()

    async def _do(self, call: tuple) -> Any:
        try:
            kind = call[0]
            if kind == "script":
                return await self._script(call[1], call[2], call[3])
            if kind == "cmd":
                return await self.link.execute(call[1])
            if kind == "pipe":
                return await self.link.execute_many(call[1])
            return list(await asyncio.gather(*(self._script(c[1], c[2], c[3]) for c in call[1])))
        except UNAVAILABLE as exc:
            raise StoreUnavailable(f"the queue store is unavailable: {exc}") from exc

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._functions is None:
            self._functions = await self._load_library() is not None
        if self._functions:
            call = ("FCALL", FUNCTIONS[name], len(keys), *keys, *args)
            try:
                return await self.link.execute(call)
            except ResponseError:
                if await self._load_library():
                    return await self.link.execute(call)
                raise
        sha, body = SOURCES[name]
        try:
            return await self.link.execute(("EVALSHA", sha, len(keys), *keys, *args))
        except NoScriptError:
            return await self.link.execute(("EVAL", body, len(keys), *keys, *args))

    async def _load_library(self) -> bool | None:
        """As ``Engine._load_library``."""
        if self.link.cluster:
            return None
        try:
            if await self.link.execute(("FUNCTION", "LIST", "LIBRARYNAME", LIBRARY)):
                return False
            await self.link.execute(("FUNCTION", "LOAD", "REPLACE", LIBRARY_CODE))
        except ResponseError:
            return None
        return True

    async def aclose(self) -> None:
        """Close the engine's own connection (the client's pool is the caller's)."""
        await self.link.aclose()


def _client_options() -> dict[str, Any]:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # redis-py's retry covers connecting only here (the links send commands themselves and never
    # resend one that may have run); more than one would only delay the StoreUnavailable answer.
    return {"socket_timeout": 5, "socket_connect_timeout": 2, "retry": Retry(NoBackoff(), 1),
            "health_check_interval": 0}  # fmt: skip


def connect(url: str, tls: store.TLS | None = None) -> Any:
    """A sync client for ``url`` (RESP2: KVRocks' RESP3 support is partial, and the plans read RESP2
    reply shapes); ``redis+cluster://host:port`` selects a cluster client."""
    return store.connect(url, tls) if store.is_cluster(url) else store.connect(url, tls, **_client_options())


def connect_async(url: str, tls: store.TLS | None = None) -> Any:
    """An asyncio client for ``url``; ``redis+cluster://host:port`` selects a cluster client."""
    if store.is_cluster(url):
        return store.connect_async(url, tls)
    return store.connect_async(url, tls, **_client_options())
