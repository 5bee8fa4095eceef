"""The two faces of the engine, ``Engine`` (sync) and ``AsyncEngine`` (asyncio), over one core.

Both run the plans of ``core.Core``; they differ only in how a yielded call reaches the store,
over the links of ``transport.py``. Each public plan is a method of both faces, made once per face
by ``_sync_verb`` / ``_async_verb``: editors and type checkers see the plan's own parameters and
its result (``Engine.enqueue(...) -> Enqueued``, ``await AsyncEngine.enqueue(...) -> Enqueued``).

Scripts are called by SHA; after ``SCRIPT FLUSH`` or a restart of a server that forgot them, the
call falls back to EVAL with the source, which also caches the script again. Connection loss,
timeouts and cluster outages surface as ``StoreUnavailable`` and nothing else.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import re
from collections.abc import Callable, Coroutine
from functools import update_wrapper
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, get_args

import redis
import redis.asyncio
from redis.exceptions import ClusterDownError, ClusterError, NoScriptError, ResponseError, TryAgainError

from codeq_platform.engine import activity, store
from codeq_platform.engine.core import Call, Core, EngineConfig, Plan
from codeq_platform.engine.lanes import SETTLES, Lanes
from codeq_platform.engine.transport import AsyncLink, SyncLink
from codeq_platform.errors import StoreUnavailable

SCRIPT_DIR = Path(__file__).with_name("scripts")
OPERATIONS = ("enqueue", "claim", "heartbeat", "complete", "fail", "settle_batch", "nack", "abandon", "progress",
              "cancel", "delete", "replay", "release", "run_now", "due", "sweep", "trim", "outbox_ack",
              "configure")  # fmt: skip
P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])
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
    """What both faces share: the core, its configuration and the tenants' shard counts.

    Every time the engine stores or compares (lease expiry, due times, backoff, finish and death
    times, retention) is the store's clock, read by the scripts themselves, so hosts whose clocks
    differ agree. ``clock`` is for tests alone: a callable giving seconds that the scripts use
    instead of the store's clock, so a test moves time by hand and knows every time exactly.
    """

    _functions: bool | None = None  # None until the first script call finds out

    def __init__(self, client: Any, config: EngineConfig | None = None,
                 clock: Callable[[], float] | None = None) -> None:  # fmt: skip
        self.client = client
        self.core = Core(config or EngineConfig(), clock)
        self.marks = activity.Marks(self.core)

    @property
    def config(self) -> EngineConfig:
        return self.core.config

    def register_tenant(self, tenant: str, shards: int) -> None:
        """Spread ``tenant``'s keys over ``shards`` hash slots (default: ``config.shards``). A tenant's
        shard count is part of its key layout: set it before the tenant's first task, never change it."""
        if not 1 <= shards <= 1024:
            raise ValueError("shards must be between 1 and 1024")
        self.core.tenant_shards[tenant] = shards


def _like(plan: Callable[..., Any], verb: F) -> F:
    """``verb`` under the plan's name, docstring and parameters, returning what the plan returns
    (so ``help()`` and ``inspect.signature`` show ``-> Enqueued``, not the plan's generator type)."""
    update_wrapper(verb, plan)
    signature = inspect.signature(plan, eval_str=True)
    verb.__signature__ = signature.replace(return_annotation=get_args(signature.return_annotation)[2])  # type: ignore[attr-defined]
    return verb


def _sync_verb(plan: Callable[Concatenate[Core, P], Plan[R]]) -> Callable[Concatenate[Engine, P], R]:
    """``Engine``'s method for one plan of the core."""

    def verb(self: Engine, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(plan(self.core, *args, **kwargs))

    return _like(plan, verb)


def _async_verb(
    plan: Callable[Concatenate[Core, P], Plan[R]],
) -> Callable[Concatenate[AsyncEngine, P], Coroutine[Any, Any, R]]:
    """``AsyncEngine``'s coroutine method for one plan of the core."""

    async def verb(self: AsyncEngine, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(plan(self.core, *args, **kwargs))

    return _like(plan, verb)


class Engine(_Face):
    """The synchronous engine, for the scheduler, the dashboard and management commands."""

    enqueue = _sync_verb(Core.enqueue)
    enqueue_batch = _sync_verb(Core.enqueue_batch)
    claim = _sync_verb(Core.claim)
    heartbeat = _sync_verb(Core.heartbeat)
    complete = _sync_verb(Core.complete)
    fail = _sync_verb(Core.fail)
    settle_batch = _sync_verb(Core.settle_batch)
    nack = _sync_verb(Core.nack)
    abandon = _sync_verb(Core.abandon)
    progress = _sync_verb(Core.progress)
    cancel = _sync_verb(Core.cancel)
    delete = _sync_verb(Core.delete)
    replay = _sync_verb(Core.replay)
    replay_many = _sync_verb(Core.replay_many)
    replay_edited = _sync_verb(Core.replay_edited)
    replay_all = _sync_verb(Core.replay_all)
    delete_many = _sync_verb(Core.delete_many)
    purge_dlq = _sync_verb(Core.purge_dlq)
    release = _sync_verb(Core.release)
    run_now = _sync_verb(Core.run_now)
    cancel_many = _sync_verb(Core.cancel_many)
    sweep = _sync_verb(Core.sweep)
    trim = _sync_verb(Core.trim)
    watch_events = _sync_verb(Core.watch_events)
    outbox = _sync_verb(Core.outbox)
    outbox_ack = _sync_verb(Core.outbox_ack)
    get_task = _sync_verb(Core.get_task)
    get_result = _sync_verb(Core.get_result)
    get_results = _sync_verb(Core.get_results)
    task_by_idempotency_key = _sync_verb(Core.task_by_idempotency_key)
    scan_tasks = _sync_verb(Core.scan_tasks)
    commands = _sync_verb(Core.commands)
    queue_stats = _sync_verb(Core.queue_stats)
    leases = _sync_verb(Core.leases)
    delayed = _sync_verb(Core.delayed)
    finished = _sync_verb(Core.finished)
    dlq = _sync_verb(Core.dlq)
    dlq_count = _sync_verb(Core.dlq_count)
    ready = _sync_verb(Core.ready)
    pause_queue = _sync_verb(Core.pause_queue)
    resume_queue = _sync_verb(Core.resume_queue)
    limit_queue = _sync_verb(Core.limit_queue)

    def __init__(self, client: Any, config: EngineConfig | None = None,
                 clock: Callable[[], float] | None = None) -> None:  # fmt: skip
        super().__init__(client, config, clock)
        self.link = SyncLink(client)

    def run(self, plan: Plan[R]) -> R:
        """Run a plan made outside the core (the scheduler's activity-index plans, engine/activity.py)."""
        return self._run(plan)

    def _run(self, plan: Plan[R]) -> R:
        reply: Any = None
        try:
            while True:
                reply = self._do(plan.send(reply))
        except StopIteration as stop:
            result: R = stop.value
            self._mark(result)
            return result

    def _mark(self, result: object) -> None:
        """Tell the scheduler's activity index what the operation changed (engine/activity.py)."""
        calls = self.marks.calls(result)
        if calls:
            try:
                self._do(("pipe", calls))
            except StoreUnavailable:  # the operation itself succeeded; the next one writes again
                self.marks.forget()

    def _do(self, call: Call) -> Any:
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

    enqueue = _async_verb(Core.enqueue)
    enqueue_batch = _async_verb(Core.enqueue_batch)
    claim = _async_verb(Core.claim)
    heartbeat = _async_verb(Core.heartbeat)
    complete = _async_verb(Core.complete)
    fail = _async_verb(Core.fail)
    settle_batch = _async_verb(Core.settle_batch)
    nack = _async_verb(Core.nack)
    abandon = _async_verb(Core.abandon)
    progress = _async_verb(Core.progress)
    cancel = _async_verb(Core.cancel)
    delete = _async_verb(Core.delete)
    replay = _async_verb(Core.replay)
    replay_many = _async_verb(Core.replay_many)
    replay_edited = _async_verb(Core.replay_edited)
    replay_all = _async_verb(Core.replay_all)
    delete_many = _async_verb(Core.delete_many)
    purge_dlq = _async_verb(Core.purge_dlq)
    release = _async_verb(Core.release)
    run_now = _async_verb(Core.run_now)
    cancel_many = _async_verb(Core.cancel_many)
    sweep = _async_verb(Core.sweep)
    trim = _async_verb(Core.trim)
    watch_events = _async_verb(Core.watch_events)
    outbox = _async_verb(Core.outbox)
    outbox_ack = _async_verb(Core.outbox_ack)
    get_task = _async_verb(Core.get_task)
    get_result = _async_verb(Core.get_result)
    get_results = _async_verb(Core.get_results)
    task_by_idempotency_key = _async_verb(Core.task_by_idempotency_key)
    scan_tasks = _async_verb(Core.scan_tasks)
    commands = _async_verb(Core.commands)
    queue_stats = _async_verb(Core.queue_stats)
    leases = _async_verb(Core.leases)
    delayed = _async_verb(Core.delayed)
    finished = _async_verb(Core.finished)
    dlq = _async_verb(Core.dlq)
    dlq_count = _async_verb(Core.dlq_count)
    ready = _async_verb(Core.ready)
    pause_queue = _async_verb(Core.pause_queue)
    resume_queue = _async_verb(Core.resume_queue)
    limit_queue = _async_verb(Core.limit_queue)

    def __init__(self, client: Any, config: EngineConfig | None = None,
                 clock: Callable[[], float] | None = None) -> None:  # fmt: skip
        super().__init__(client, config, clock)
        self.link = AsyncLink(client)
        self.lanes = Lanes(self._call)

    async def run(self, plan: Plan[R]) -> R:
        """As ``Engine.run``."""
        return await self._run(plan)

    async def _run(self, plan: Plan[R]) -> R:
        reply: Any = None
        try:
            while True:
                reply = await self._do(plan.send(reply))
        except StopIteration as stop:
            result: R = stop.value
            await self._mark(result)
            return result

    async def _mark(self, result: object) -> None:
        """As ``Engine._mark``."""
        calls = self.marks.calls(result)
        if calls:
            try:
                await self._do(("pipe", calls))
            except StoreUnavailable:
                self.marks.forget()

    async def _do(self, call: Call) -> Any:
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
        if name in SETTLES:
            return await self.lanes.settle(name, keys, args)
        return await self._call(name, keys, args)

    async def _call(self, name: str, keys: list[str], args: list[Any]) -> Any:
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
