"""The web process's wake-up listener never stops quietly: an unexpected error is survived, a listener
that has stopped anyway is started again by the next long-poll, and /readyz and /metrics say how it
stands."""

from __future__ import annotations

import asyncio
import time

from codeq_platform.api import wakeups
from codeq_platform.engine import store
from tests.api.calls import API_DB
from tests.api.conftest import bearer
from tests.processes import READY_SECONDS

pytestmark = API_DB


async def eventually(holds, what: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not holds():
        assert time.monotonic() < deadline, f"{what}: not within {READY_SECONDS:g} s"
        await asyncio.sleep(0.05)


async def long_poll(http, token: str, command: str) -> asyncio.Task:
    body = {"commands": [command], "waitSeconds": 30}
    return asyncio.create_task(http.post("/v1/codeq/tasks/claim", json=body, headers=bearer(token)))


async def test_an_unexpected_error_in_the_listener_is_survived_and_wakes_claims_after(
    http, producer_bearer, worker_bearer, monkeypatch
):
    real = store.psubscribe
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in the listener")
        return real(*args, **kwargs)

    monkeypatch.setattr(wakeups.store, "psubscribe", failing_once)
    waiting = await long_poll(http, worker_bearer, "wake.me")
    await eventually(lambda: wakeups.current() is not None and wakeups.current().summary == "ok", "listener back")

    assert wakeups.current().failures == 1
    assert (await http.get("/readyz")).json()["checks"]["wakeups"] == "ok"
    created = await http.post("/v1/codeq/tasks", json={"command": "wake.me", "payload": {}},
                              headers=bearer(producer_bearer))  # fmt: skip
    claimed = await asyncio.wait_for(waiting, READY_SECONDS)
    assert claimed.status_code == 200 and claimed.json()["id"] == created.json()["id"]
    assert "codeq_wakeup_listener_failures_total 1.0" in (await http.get("/metrics")).text


async def test_a_stopped_listener_is_shown_down_then_started_by_the_next_long_poll(http, worker_bearer):
    assert (await http.get("/readyz")).json()["checks"]["wakeups"] == "idle"
    first = await long_poll(http, worker_bearer, "quiet")
    await eventually(lambda: wakeups.current() is not None and wakeups.current().summary == "ok", "listening")
    listener = wakeups.current()
    listener.task.cancel()
    await eventually(lambda: listener.task.done(), "listener stopped")

    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["wakeups"] == "down"
    assert "codeq_wakeup_listener_up 0.0" in (await http.get("/metrics")).text

    second = await long_poll(http, worker_bearer, "quiet")
    await eventually(lambda: listener.summary == "ok", "listener started again")
    assert listener.restarts == 1
    text = (await http.get("/metrics")).text
    assert "codeq_wakeup_listener_up 1.0" in text and "codeq_wakeup_listener_restarts_total 1.0" in text
    for waiting in (first, second):
        waiting.cancel()
