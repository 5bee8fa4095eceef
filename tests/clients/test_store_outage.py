"""``Client`` and ``AsyncClient`` against a platform whose store goes away: the API answers 503 with
``Retry-After``, the client waits that long, sends again, and succeeds once the store is back; a create
sent again this way makes one task, even when the store ran the first attempt and only its answer was lost.

The platform is a real uvicorn; its store a real redis-server (append-only, so a restart keeps the data),
killed and started again on the same port. Between the two runs ``StoreLink``, a TCP relay that can lose
the store's answer to an enqueue after the store ran it. What the client sent and heard is read off its
real HTTP transport (``Recording``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import codeq
import httpx
import pytest
from django.db import connection

from codeq_platform.engine.engine import FUNCTIONS
from tests.clients.conftest import CLIENT_DB
from tests.clients.test_worker import serving, wait_for
from tests.conftest import JWT_SECRET
from tests.engine._redis_servers import RedisProcess, require_binary
from tests.processes import api_server, child_database_url

pytestmark = CLIENT_DB

PATIENT = codeq.RetryPolicy(attempts=30)  # the store is back within a few seconds, even on a busy machine


class StoreLink:
    """A TCP relay from the platform to the store on ``store_port``. While the store is down it closes what
    it accepts, as the store's own port would refuse it. ``lose_enqueue_answers(n)``: the next ``n`` enqueue
    calls reach the store, which runs them, but the connection is dropped before their answers come back."""

    ENQUEUE = FUNCTIONS["enqueue"].encode()

    def __init__(self, store_port: int) -> None:
        self.store_port = store_port
        self.to_lose = 0
        self.lost = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_enqueue_answers(self, count: int) -> None:
        with self._lock:
            self.to_lose = count

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                platform, _ = self._listener.accept()
            except OSError:
                return
            try:
                store = socket.create_connection(("127.0.0.1", self.store_port), timeout=5)
                store.settimeout(None)
            except OSError:
                platform.close()
                continue
            doomed = threading.Event()
            threading.Thread(target=self._requests, args=(platform, store, doomed), daemon=True).start()
            threading.Thread(target=self._answers, args=(store, platform, doomed), daemon=True).start()

    def _doomed(self, chunk: bytes) -> bool:
        with self._lock:
            if self.to_lose and self.ENQUEUE in chunk:
                self.to_lose -= 1
                self.lost += 1
                return True
        return False

    def _requests(self, platform: socket.socket, store: socket.socket, doomed: threading.Event) -> None:
        try:
            while chunk := platform.recv(65536):
                if self._doomed(chunk):
                    doomed.set()
                store.sendall(chunk)
                if doomed.is_set():  # the answers' side cuts the platform off once the store has answered
                    return
        except OSError:
            pass
        platform.close()
        _quietly_shut(store)

    def _answers(self, store: socket.socket, platform: socket.socket, doomed: threading.Event) -> None:
        try:
            while chunk := store.recv(65536):
                if doomed.is_set():  # the store ran the call; the platform hears only that the connection is gone
                    platform.shutdown(socket.SHUT_RDWR)
                    break
                platform.sendall(chunk)
        except OSError:
            pass
        finally:
            store.close()
            platform.close()


def _quietly_shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


@dataclass
class Exchange:
    sent: float  # time.monotonic() when the request went out
    heard: float  # ... and when its answer came back
    heard_wall: float  # time.time() then, to compare with the store's timestamps
    status: int
    retry_after: str | None


class Recording(httpx.HTTPTransport):
    """The client's real transport, noting each request's status and ``Retry-After`` and when it went."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.monotonic()
        response = super().handle_request(request)
        self.exchanges.append(_exchange(sent, response))
        return response


class AsyncRecording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = time.monotonic()
        response = await super().handle_async_request(request)
        self.exchanges.append(_exchange(sent, response))
        return response


def _exchange(sent: float, response: httpx.Response) -> Exchange:
    return Exchange(sent, time.monotonic(), time.time(), response.status_code, response.headers.get("retry-after"))


def assert_waited_out_503s_then_succeeded(exchanges: list[Exchange], success: int) -> None:
    """Every answer but the last is a 503 with ``Retry-After: 1``, each followed by at least that long a
    wait before the next send; the last is ``success``."""
    statuses = [e.status for e in exchanges]
    assert len(statuses) >= 2 and set(statuses[:-1]) == {503} and statuses[-1] == success, statuses
    for answered, next_one in itertools.pairwise(exchanges):
        assert answered.retry_after == "1"
        assert next_one.sent - answered.heard >= 1.0, (answered, next_one)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    directory = tmp_path_factory.mktemp("outage-store")
    server = RedisProcess(directory, executable=require_binary("redis-server"),
                          extra=["--appendonly", "yes", "--appendfsync", "always"])  # fmt: skip
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def link(store: RedisProcess) -> Iterator[StoreLink]:
    relay = StoreLink(store.port)
    yield relay
    relay.close()


@pytest.fixture(scope="module")
def url(django_db_setup, django_db_blocker, link: StoreLink) -> Iterator[str]:
    """A uvicorn serving the platform on the test database, with its store behind ``link``."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    prefix = f"cqoutage{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": child_database_url(name), "CODEQ_KV_URL": link.url,
           "CODEQ_KV_PREFIX": prefix, "CODEQ_CACHE_PREFIX": f"{prefix}:cache", "CODEQ_JWT_SECRET": JWT_SECRET,
           "SECRET_KEY": "test-only-django-secret-key"}  # fmt: skip
    with api_server(env) as base:
        yield base


@pytest.fixture(autouse=True)
def _store_running(store: RedisProcess, link: StoreLink) -> Iterator[None]:
    yield
    link.lose_enqueue_answers(0)
    if store.process is None or store.process.poll() is not None:
        store.start()


class Restart:
    """Start the killed store again after ``delay`` seconds, in a thread; ``join()`` re-raises its failure."""

    def __init__(self, store: RedisProcess, delay: float) -> None:
        self.failure: BaseException | None = None

        def run() -> None:
            try:
                store.start()
            except BaseException as exc:
                self.failure = exc

        self.timer = threading.Timer(delay, run)
        self.timer.start()

    def join(self) -> None:
        self.timer.join()
        if self.failure is not None:
            raise self.failure


def ready_ids(url: str, token: str, command: str) -> list[str]:
    with codeq.Client(url, token) as admin:
        return [t.id for t in admin.queue_tasks(command, "ready").tasks]


def test_the_client_waits_out_the_503s_of_a_killed_store_and_creates_once_it_is_back(
    url, store, producer_bearer, admin_bearer, command
):
    recording = Recording()
    with codeq.Client(url, producer_bearer, transport=recording, retry=PATIENT) as client:
        client.create(command, {"warm": True})  # the token is known; the store is the only thing to fail
        recording.exchanges.clear()
        store.kill()
        restart = Restart(store, delay=3.0)
        try:
            created = client.create(command, {"n": 1})
        finally:
            restart.join()

    assert_waited_out_503s_then_succeeded(recording.exchanges, 202)
    assert len(recording.exchanges) >= 3  # down for 3 s: at least two 503s, a second apart
    assert created.payload == {"n": 1} and created.status == "PENDING"
    ids = ready_ids(url, admin_bearer, command)
    assert len(ids) == 2 and created.id in ids  # the warm-up task and this one, once


async def test_the_async_client_waits_out_the_503s_of_a_killed_store_the_same_way(
    url, store, producer_bearer, admin_bearer, command
):
    recording = AsyncRecording()
    async with codeq.AsyncClient(url, producer_bearer, transport=recording, retry=PATIENT) as client:
        warm = await client.create(command, {"warm": True})
        recording.exchanges.clear()
        store.kill()
        restart = Restart(store, delay=3.0)
        try:
            task = await client.get(warm.id)
            created = await client.create(command, {"n": 2})
        finally:
            restart.join()

    assert task.id == warm.id
    statuses = [e.status for e in recording.exchanges]
    get_answers = statuses.index(200) + 1
    assert_waited_out_503s_then_succeeded(recording.exchanges[:get_answers], 200)
    assert statuses[get_answers:] == [202]  # the store was back by then
    assert created.payload == {"n": 2}
    assert sorted(ready_ids(url, admin_bearer, command)) == sorted([warm.id, created.id])


def test_a_create_the_store_ran_but_whose_answer_was_lost_is_sent_again_and_makes_one_task(
    url, link, producer_bearer, admin_bearer, command
):
    recording = Recording()
    with codeq.Client(url, producer_bearer, transport=recording) as client:
        client.create(command, {"warm": True})
        recording.exchanges.clear()
        link.lose_enqueue_answers(1)
        created = client.create(command, {"n": 3})

    assert link.lost == 1
    assert_waited_out_503s_then_succeeded(recording.exchanges, 202)
    first_answer = recording.exchanges[0]
    # The task the retry returned is the one the first attempt made, before the platform answered 503.
    assert created.created_at is not None and created.created_at.timestamp() <= first_answer.heard_wall
    assert created.payload == {"n": 3}
    ids = ready_ids(url, admin_bearer, command)
    assert len(ids) == 2 and ids.count(created.id) == 1


def test_the_client_gives_up_after_its_attempts_with_the_servers_503(url, store, producer_bearer, command):
    recording = Recording()
    with codeq.Client(url, producer_bearer, transport=recording, retry=codeq.RetryPolicy(attempts=3)) as client:
        client.create(command, {"warm": True})
        recording.exchanges.clear()
        store.kill()
        with pytest.raises(codeq.Unavailable) as refused:
            client.create(command, {"n": 4})

    error = refused.value
    assert (error.status, error.code, error.message) == (503, "store_unavailable", "the store is unavailable")
    assert error.retry_after == 1.0
    assert [e.status for e in recording.exchanges] == [503, 503, 503]
    for answered, next_one in itertools.pairwise(recording.exchanges):
        assert next_one.sent - answered.heard >= 1.0


async def test_the_async_client_gives_up_the_same_way(url, store, producer_bearer, command):
    recording = AsyncRecording()
    retry = codeq.RetryPolicy(attempts=2)
    async with codeq.AsyncClient(url, producer_bearer, transport=recording, retry=retry) as client:
        await client.create(command, {"warm": True})
        recording.exchanges.clear()
        store.kill()
        with pytest.raises(codeq.Unavailable) as refused:
            await client.create(command, {"n": 5})

    assert (refused.value.status, refused.value.code) == (503, "store_unavailable")
    assert [e.status for e in recording.exchanges] == [503, 503]
    assert recording.exchanges[1].sent - recording.exchanges[0].heard >= 1.0


def test_a_worker_keeps_the_results_it_could_not_report_while_the_store_was_down(
    url, store, producer_bearer, worker_bearer, command, caplog
):
    release = threading.Event()
    app = codeq.App()

    @app.task(command)
    def held(job: codeq.Job) -> dict[str, int]:
        release.wait(60)
        return {"done": job.payload}

    worker = codeq.Worker(app, url=url, token=worker_bearer, concurrency=1, poll_wait=1, lease_seconds=120)
    with codeq.Client(url, producer_bearer) as producer:
        task = producer.create(command, 1)
        with serving(worker):
            wait_for(lambda: producer.get(task.id).status == "IN_PROGRESS")
            store.kill()
            release.set()  # its result goes out while the store is down, past the client's own retries
            restart = Restart(store, delay=8.0)
            restart.join()
            done = wait_for(lambda: (t := producer.get(task.id)).status == "COMPLETED" and t, seconds=60)
        result = producer.result(task.id)

    assert done.attempts == 1  # not run again: its lease (120 s) had not expired
    assert result is not None and result.result == {"done": 1}
    assert any("sending them again" in r.getMessage() for r in caplog.records if r.name == "codeq.worker")
