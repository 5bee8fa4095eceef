"""What users see when the queue store goes away and comes back.

Each test starts its own redis-server (append-only file in a temporary folder, so data survives a
restart on the same port and folder). A lost store must surface as ``StoreUnavailable`` and nothing
else, quickly; once it is back, the same Engine works again (scripts reloaded transparently) and no
task is lost or handed out twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, NewTask, State, Task, connect, connect_async
from codeq_platform.errors import StoreUnavailable
from tests.engine._redis_servers import RedisProcess, require_binary

QUICK_S = 5.0  # an outage must be reported well before a 10 s request deadline


@pytest.fixture
def server(tmp_path) -> Iterator[RedisProcess]:
    proc = RedisProcess(tmp_path / "store", executable=require_binary("redis-server"),
                        extra=["--appendonly", "yes", "--enable-debug-command", "local"])  # fmt: skip
    proc.start()
    yield proc
    proc.kill()


@pytest.fixture
def outage_config() -> EngineConfig:
    return EngineConfig(prefix=f"cqo{uuid.uuid4().hex[:8]}", backoff_base_ms=1000, backoff_cap_ms=8000)


@pytest.fixture
def store_engine(server, outage_config, clock) -> Iterator[Engine]:
    client = connect(server.url)
    yield Engine(client, outage_config, clock)
    client.close()


def cached_scripts(server: RedisProcess) -> int:
    """How many pieces of engine code the server holds: cached scripts plus function libraries."""
    with server.client() as admin:
        libraries = admin.execute_command("FUNCTION", "LIST", "LIBRARYNAME", "codeq_*")
        return int(admin.info("memory")["number_of_cached_scripts"]) + len(libraries)


def stall_server(server: RedisProcess, seconds: float) -> None:
    with server.client(socket_timeout=seconds + 5) as admin:
        admin.execute_command("DEBUG", "SLEEP", str(seconds))


def assert_unavailable_quickly(op: Callable[[], Any]) -> None:
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        op()
    assert time.monotonic() - start < QUICK_S


async def assert_unavailable_quickly_async(op: Callable[[], Any]) -> None:
    start = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await op()
    assert time.monotonic() - start < QUICK_S


def test_store_down_raises_store_unavailable_and_the_same_engine_recovers_after_restart(server, store_engine):
    e = store_engine
    tid = e.enqueue("acme", NewTask("resize", {"w": 640})).task.id

    server.shutdown()

    assert_unavailable_quickly(lambda: e.enqueue("acme", NewTask("resize", {"w": 1})))
    assert_unavailable_quickly(lambda: e.claim("acme", "w1", ["resize"]))
    assert_unavailable_quickly(lambda: e.get_task("acme", tid))

    server.start()  # same port, same data folder
    with server.client() as admin:
        admin.function_flush()  # functions survive in the append-only file; make the server forget them too
    assert cached_scripts(server) == 0

    assert e.get_task("acme", tid).state == State.READY
    (claimed,) = e.claim("acme", "w1", ["resize"])
    assert claimed.id == tid
    assert e.complete("acme", tid, "w1", {"ok": True}).task.state == State.COMPLETED
    new = e.enqueue("acme", NewTask("resize", {"w": 2}))
    assert new.created
    assert [t.id for t in e.claim("acme", "w1", ["resize"])] == [new.task.id]
    assert cached_scripts(server) > 0  # reloaded by the engine itself


def test_operations_keep_working_after_script_flush(server, store_engine):
    e = store_engine
    first = e.enqueue("acme", NewTask("ocr", {"page": 1})).task.id
    assert [t.id for t in e.claim("acme", "w1", ["ocr"])] == [first]
    assert cached_scripts(server) > 0

    with server.client() as admin:
        admin.script_flush()
        admin.function_flush()
    assert cached_scripts(server) == 0

    second = e.enqueue("acme", NewTask("ocr", {"page": 2})).task.id
    settled = e.complete("acme", first, "w1", {"text": "..."}, next_commands=["ocr"])
    assert settled.task.state == State.COMPLETED
    assert [t.id for t in settled.claimed] == [second]
    assert e.nack("acme", second, "w1", delay_ms=0).task.state == State.READY
    assert [t.id for t in e.claim("acme", "w2", ["ocr"])] == [second]


async def test_concurrent_first_calls_of_an_async_engine_all_run_as_functions(server, outage_config, clock):
    """Fifty workers starting at once on a fresh engine (the API at boot) must all get the loaded
    function library, not fall back to shipping scripts: that costs the store a third more per call."""
    Engine(connect(server.url), outage_config, clock).enqueue_batch(
        "acme", [NewTask("ocr", {"page": i}) for i in range(50)]
    )
    with server.client() as admin:
        admin.config_resetstat()
    client = connect_async(server.url)
    engine = AsyncEngine(client, outage_config, clock)
    claimed = await asyncio.gather(*(engine.claim("acme", f"w{i}", ["ocr"]) for i in range(50)))
    assert sum(len(tasks) for tasks in claimed) == 50
    await engine.aclose()
    await client.aclose()
    with server.client() as admin:
        stats = admin.info("commandstats")
    assert "cmdstat_evalsha" not in stats and "cmdstat_eval" not in stats
    assert stats["cmdstat_fcall"]["calls"] == 50


def test_a_claim_whose_reply_is_lost_returns_the_task_once_after_its_lease_expires(
    server, store_engine, outage_config, clock
):
    e = store_engine
    tid = e.enqueue("acme", NewTask("charge", {"amount": 5})).task.id
    # the same engine setup over a client that gives up on a reply after 0.2 s
    lossy_client = connect(server.url + "?socket_timeout=0.2")
    lossy = Engine(lossy_client, outage_config, clock)
    try:
        assert lossy.claim("acme", "w-lost", ["warmup"]) == []  # connected, claim script cached

        # the server stalls for 1.5 s: the claim arrives, the client gives up and drops the
        # connection, then the server wakes up, runs the claim and its reply goes nowhere
        stall = threading.Thread(target=stall_server, args=(server, 1.5))
        stall.start()
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            lossy.claim("acme", "w-lost", ["charge"], lease_ms=30_000)
        assert time.monotonic() - started < 1.3  # reported before the server even answered
        stall.join(10)
    finally:
        lossy_client.close()

    # the server did run the claim: the task is leased to a worker that never heard about it
    lost = e.get_task("acme", tid)
    assert (lost.state, lost.worker_id) == (State.LEASED, "w-lost")
    assert e.claim("acme", "w2", ["charge"]) == []  # not handed out twice

    clock.advance(31)
    assert e.sweep("acme").expired == 1
    clock.advance(60)  # past the retry backoff
    again = e.claim("acme", "w2", ["charge"], count=10)
    assert [t.id for t in again] == [tid]
    assert again[0].attempts == 2
    assert e.claim("acme", "w3", ["charge"], count=10) == []
    assert e.complete("acme", tid, "w2", {"charged": True}).task.state == State.COMPLETED


async def test_async_engine_reports_outage_and_recovers_after_restart(server, outage_config, clock):
    client = connect_async(server.url)
    e = AsyncEngine(client, outage_config, clock)
    try:
        tid = (await e.enqueue("acme", NewTask("resize", {"w": 640}))).task.id

        server.shutdown()

        await assert_unavailable_quickly_async(lambda: e.enqueue("acme", NewTask("resize", {"w": 1})))
        await assert_unavailable_quickly_async(lambda: e.claim("acme", "w1", ["resize"]))
        await assert_unavailable_quickly_async(lambda: e.get_task("acme", tid))

        server.start()
        with server.client() as admin:
            admin.function_flush()
        assert cached_scripts(server) == 0

        assert (await e.get_task("acme", tid)).state == State.READY
        (claimed,) = await e.claim("acme", "w1", ["resize"])
        assert claimed.id == tid
        assert (await e.complete("acme", tid, "w1", {"ok": True})).task.state == State.COMPLETED
        new = await e.enqueue("acme", NewTask("resize", {"w": 2}))
        assert [t.id for t in await e.claim("acme", "w1", ["resize"])] == [new.task.id]
    finally:
        await client.aclose()


async def test_a_timed_out_async_claim_runs_once_and_leases_one_task(server, store_engine, outage_config, clock):
    e = store_engine
    e.enqueue_batch("acme", [NewTask("charge", {"n": n}) for n in range(2)])
    lossy_client = connect_async(server.url + "?socket_timeout=0.5")
    lossy = AsyncEngine(lossy_client, outage_config, clock)
    try:
        assert await lossy.claim("acme", "w-lost", ["warmup"]) == []
        stall = threading.Thread(target=stall_server, args=(server, 1.5))
        stall.start()
        await asyncio.sleep(0.2)
        with pytest.raises(StoreUnavailable):
            await lossy.claim("acme", "w-lost", ["charge"], lease_ms=30_000)
        stall.join(10)
    finally:
        await lossy.aclose()
        await lossy_client.aclose()
    # the claim ran once, after the stall: one task leased to the worker that gave up, one still ready
    assert len(e.leases("acme").tasks) == 1
    assert e.queue_stats("acme", "charge").ready == 1


class DroppingRelay:
    """A TCP relay to the store that drops (resets) the first ``drops`` connections as soon as it has
    accepted them, as a store being killed or restarted does, and relays every later one."""

    def __init__(self, target_port: int, drops: int) -> None:
        self.target_port = target_port
        self.drops = drops
        self.pipes: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def __aenter__(self) -> DroppingRelay:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for pipe in self.pipes:
            pipe.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.drops > 0:
            self.drops -= 1
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        store_reader, store_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for source, sink in ((reader, store_writer), (store_reader, writer)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(pipe)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()


async def test_callers_waiting_for_a_connection_the_store_drops_get_their_own_answers(
    server, store_engine, outage_config, clock
):
    """Requests that arrive together while the engine connects share that connection. When the store
    drops it as it is made (killed or restarting), each request gets its own task or StoreUnavailable,
    at once; none waits for ever and none is handed another request's answer, then or afterwards."""
    tasks = [store_engine.enqueue("acme", NewTask("ocr", {"page": n})).task for n in range(20)]
    async with DroppingRelay(server.port, drops=1) as relay:
        client = connect_async(relay.url)
        engine = AsyncEngine(client, outage_config, clock)
        try:

            async def read(task: Task) -> Task | StoreUnavailable:
                try:
                    return await asyncio.wait_for(engine.get_task("acme", task.id), QUICK_S)
                except StoreUnavailable as exc:
                    return exc

            first = await asyncio.gather(*(read(task) for task in tasks[:10]))
            for task, answer in zip(tasks, first, strict=False):
                assert isinstance(answer, StoreUnavailable) or answer.payload == task.payload
            then = await asyncio.gather(*(read(task) for task in tasks[10:]))
            assert [answer.payload for answer in then] == [task.payload for task in tasks[10:]]  # type: ignore[union-attr]
        finally:
            await engine.aclose()
            await client.aclose()


@contextlib.contextmanager
def closing_listener(_tmp_path: Path) -> Iterator[str]:
    """The URL of a port that accepts each connection and closes it at once, as a proxy in front of a
    store that is down does."""
    listener = socket.create_server(("127.0.0.1", 0))

    def close_each() -> None:
        with contextlib.suppress(OSError):
            while True:
                listener.accept()[0].close()

    threading.Thread(target=close_each, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        listener.close()


@contextlib.contextmanager
def store_at_maxclients(tmp_path: Path) -> Iterator[str]:
    """The URL of a real redis-server whose one client slot is taken: it accepts a connection, answers
    ``ERR max number of clients reached`` unasked and closes it."""
    full = RedisProcess(tmp_path / "full", executable=require_binary("redis-server"), extra=["--maxclients", "1"])
    full.start()
    try:
        with socket.create_connection(("127.0.0.1", full.port)):
            yield full.url
    finally:
        full.kill()


@pytest.mark.parametrize("refusing", [closing_listener, store_at_maxclients])
async def test_a_store_that_closes_each_connection_as_it_opens_is_unavailable_at_once(
    refusing, tmp_path, outage_config, clock
):
    """Not after the 5 s answer timeout: every request of the API would wait that long for its 503."""
    with refusing(tmp_path) as url:
        client = connect_async(url)
        engine = AsyncEngine(client, outage_config, clock)
        try:
            for _ in range(3):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await engine.enqueue("acme", NewTask("resize", {"w": 1}))
                assert time.monotonic() - started < 2.0
        finally:
            await engine.aclose()
            await client.aclose()
