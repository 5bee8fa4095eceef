"""The worker runtime against the platform's real processes: handlers of both kinds, heartbeats past the
lease, permanent and transient errors, timeouts, wake-ups, and ``codeq worker`` stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import codeq
import httpx
import pytest
from django.conf import settings as django_settings

from codeq_platform.base import rollups
from codeq_platform.engine.store import connect as connect_store
from codeq_platform.engine.transport import SyncLink
from tests.clients.conftest import CLIENT_DB

pytestmark = CLIENT_DB

ROOT = Path(__file__).resolve().parents[2]
CODEQ = str(Path(sys.executable).parent / "codeq")


@contextmanager
def serving(worker: codeq.Worker) -> Iterator[codeq.Worker]:
    """``worker`` serving on a thread of its own until the block ends."""
    thread = threading.Thread(target=asyncio.run, args=(worker.serve(),), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the worker did not stop"


def wait_for(condition: Callable[[], object], seconds: float = 60) -> object:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.1)
    return value


def finished(client: codeq.Client, task_id: str) -> codeq.Task:
    return wait_for(lambda: (t := client.get(task_id)).status in ("COMPLETED", "FAILED") and t)


def test_async_and_thread_handlers_complete_their_tasks_with_progress(url, producer, worker_bearer, command):
    app = codeq.App()

    @app.task(f"{command}.async")
    async def double(job: codeq.Job) -> dict:
        job.progress({"seen": job.payload})
        await asyncio.sleep(0.01)
        return {"double": job.payload * 2}

    app.register(f"{command}.thread", lambda job: job.payload + 1)
    tasks = [producer.create(f"{command}.async", n) for n in range(10)]
    tasks += [producer.create(f"{command}.thread", n) for n in range(10)]

    with serving(codeq.Worker(app, url=url, token=worker_bearer, concurrency=8, poll_wait=1)):
        results = [producer.result(t.id, wait=30) for t in tasks]

    assert [r.result for r in results] == [{"double": n * 2} for n in range(10)] + [{"value": n + 1} for n in range(10)]
    assert all(r.task.attempts == 1 for r in results)
    assert [r.task.progress for r in results[:10]] == [{"seen": n} for n in range(10)]


def test_heartbeats_keep_a_slow_task_leased_past_its_lease(url, producer, worker_bearer, command):
    runs = []

    def slow(job: codeq.Job) -> str:
        runs.append(job.attempts)
        time.sleep(7)
        return "done"

    task = producer.create(command, {})
    with serving(codeq.Worker(codeq.App({command: slow}), url=url, token=worker_bearer, lease_seconds=2, poll_wait=1)):
        done = finished(producer, task.id)

    assert (done.status, done.attempts) == ("COMPLETED", 1)
    assert runs == [1]


def test_a_permanent_error_ends_the_task_failed_without_a_retry(url, producer, admin, worker_bearer, command):
    app = codeq.App()

    @app.task(f"{command}.explicit")
    def explicit(job: codeq.Job) -> None:
        raise codeq.PermanentError("the image is corrupt")

    @app.task(f"{command}.typed", permanent=(KeyError,))
    def typed(job: codeq.Job) -> None:
        raise KeyError("width")

    first = producer.create(f"{command}.explicit", 1)
    second = producer.create(f"{command}.typed", 1)
    with serving(codeq.Worker(app, url=url, token=worker_bearer, poll_wait=1)):
        failed = [finished(producer, first.id), finished(producer, second.id)]

    assert [(t.status, t.attempts, t.error) for t in failed] == [
        ("FAILED", 1, "the image is corrupt"), ("FAILED", 1, "KeyError: 'width'")]  # fmt: skip
    assert admin.queue(f"{command}.explicit").dlq == 0


def test_a_transient_error_is_retried_after_the_servers_backoff(url, producer, worker_bearer, command):
    def flaky(job: codeq.Job) -> dict:
        if job.attempts == 1:
            raise ConnectionError("the bucket timed out")
        return {"attempt": job.attempts}

    task = producer.create(command, {})
    with serving(codeq.Worker(codeq.App({command: flaky}), url=url, token=worker_bearer, poll_wait=1)):
        read = producer.result(task.id, wait=60) or producer.result(task.id, wait=60)

    assert read.result == {"attempt": 2} and read.task.attempts == 2


def test_a_handler_past_its_timeout_is_given_back_for_a_retry(url, producer, worker_bearer, command):
    app = codeq.App()

    @app.task(command, timeout=1)
    async def stuck_once(job: codeq.Job) -> dict:
        if job.attempts == 1:
            await asyncio.sleep(60)
        return {"attempt": job.attempts}

    @app.task(f"{command}.again")
    async def again(job: codeq.Job) -> None:
        if job.attempts == 1:
            raise codeq.Retry("not yet", delay_seconds=0)

    task = producer.create(command, {})
    retried = producer.create(f"{command}.again", {})
    with serving(codeq.Worker(app, url=url, token=worker_bearer, poll_wait=1)):
        read = producer.result(task.id, wait=60) or producer.result(task.id, wait=60)
        again_read = producer.result(retried.id, wait=30)

    assert read.result == {"attempt": 2}
    assert again_read.task.attempts == 2


def test_an_idle_worker_is_woken_by_the_platform_and_refuses_unsigned_calls(url, producer, admin, worker_bearer,
                                                                            command):  # fmt: skip
    secret = admin.rotate_signing_secret(grace_seconds=0).secret
    receiver = codeq.WakeupReceiver(secret=secret, min_interval_seconds=1)
    app = codeq.App({command: lambda job: "woken"})
    worker = codeq.Worker(app, url=url, token=worker_bearer, wakeups=receiver, idle_poll_seconds=600)
    with serving(worker):
        wait_for(lambda: admin.worker_subscriptions())
        refused = httpx.post(receiver.url, json={"eventType": command, "available": True})
        task = producer.create(command, {})
        read = producer.result(task.id, wait=30)

    assert refused.status_code == 401 and receiver.rejected == 1
    assert read is not None and read.result == {"value": "woken"}
    assert receiver.received >= 1
    assert admin.worker_subscriptions() == []


@pytest.fixture
def worker_process(url, worker_bearer, command) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``codeq worker tests.clients.handlers`` with extra arguments; killed if still running."""
    started: list[subprocess.Popen] = []
    env = {**os.environ, "CODEQ_URL": url, "CODEQ_TOKEN": worker_bearer, "CODEQ_TEST_COMMAND": command,
           "PYTHONUNBUFFERED": "1"}  # fmt: skip

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen([CODEQ, "worker", "tests.clients.handlers", *args], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stdout.close()


def test_sigterm_lets_short_work_finish_and_gives_long_work_back(worker_process, producer, admin, command):
    short = [producer.create(f"{command}.sleep", {"seconds": 1}) for _ in range(2)]
    long = [producer.create(f"{command}.sleep", {"seconds": 600}) for _ in range(2)]
    process = worker_process("--concurrency", "4", "--grace", "5", "--poll-wait", "1")
    wait_for(lambda: admin.queue(f"{command}.sleep").in_progress == 4)

    process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert process.wait(timeout=60) == 0, process.stdout.read()
    stopped_in = time.monotonic() - started

    assert [producer.get(t.id).status for t in short] == ["COMPLETED", "COMPLETED"]
    given_back = [producer.get(t.id) for t in long]
    assert [(t.status, t.attempts, t.worker_id) for t in given_back] == [("PENDING", 0, None)] * 2
    assert admin.queue(f"{command}.sleep").ready == 2
    assert stopped_in < 30, stopped_in


def test_codeq_worker_processes_permanent_errors_and_noops(worker_process, producer, command):
    noops = producer.create_batch([{"command": f"{command}.noop", "payload": n} for n in range(50)])
    rejected = producer.create(f"{command}.reject", "cat.gif")
    process = worker_process("--concurrency", "20")

    failed = finished(producer, rejected.id)
    assert [producer.result(t.id, wait=30).status for t in noops] == ["COMPLETED"] * 50
    assert (failed.status, failed.error) == ("FAILED", "ValueError: cannot use 'cat.gif'")

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0


def test_the_worker_tells_the_platform_its_id_host_process_and_tasks_held(platform, url, producer, worker_bearer,
                                                                          command):  # fmt: skip
    release = threading.Event()
    app = codeq.App({command: lambda job: release.wait(60)})
    tasks = [producer.create(command, n) for n in range(2)]
    link = SyncLink(connect_store(django_settings.CODEQ_KV_URL))
    prefix = platform.env["CODEQ_KV_PREFIX"]

    def this_process() -> rollups.WorkerSeen | None:
        seen = rollups.read_workers(link, prefix, "acme", int(time.time() * 1000))
        return next((w for w in seen if w.pid == str(os.getpid()) and w.in_flight == 2), None)

    with serving(codeq.Worker(app, url=url, token=worker_bearer, lease_seconds=3, poll_wait=1)):
        seen = wait_for(this_process)
        release.set()
        assert [producer.result(t.id, wait=30).task.status for t in tasks] == ["COMPLETED"] * 2
    assert seen.host and seen.instance.startswith(f"{seen.host[:40]}:{os.getpid()}:")
