"""Concurrency over real HTTP: the ASGI app served by uvicorn in a subprocess, on the test database.

The server is started once for the module with the test database's name (pytest-django's, read from
the connection once the database is set up) and a key prefix of its own; each test commits its tenant
and tokens (transactional_db) and uses commands no other test uses.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.api.calls import mint
from tests.api.live import live_server

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django.contrib.contenttypes",
                                                                      "django.contrib.auth", "tenants"])  # fmt: skip


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The base URL of a uvicorn serving the app on the test database."""
    with live_server(django_db_blocker) as base:
        yield base


@pytest.fixture
def command() -> str:
    return f"live-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def other_worker(tenant) -> str:
    return mint(tenant, "worker")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_two_claims_racing_for_one_task_get_one_200_and_one_204(
    server, producer_bearer, worker_bearer, other_worker, command
):
    workers = [worker_bearer, other_worker]
    async with httpx.AsyncClient(base_url=server, timeout=10) as a, httpx.AsyncClient(base_url=server, timeout=10) as b:
        for _ in range(5):
            created = await a.post("/v1/codeq/tasks", json={"command": command, "payload": 1},
                                   headers=auth(producer_bearer))  # fmt: skip
            assert created.status_code == 202

            answers = await asyncio.gather(
                a.post("/v1/codeq/tasks/claim", json={"commands": [command]}, headers=auth(workers[0])),
                b.post("/v1/codeq/tasks/claim", json={"commands": [command]}, headers=auth(workers[1])),
            )

            assert sorted(r.status_code for r in answers) == [200, 204]
            winner = next(r for r in answers if r.status_code == 200).json()
            assert winner["id"] == created.json()["id"] and winner["attempts"] == 1


async def test_a_waiting_claim_wakes_well_under_a_second_after_a_create(
    server, producer_bearer, worker_bearer, command
):
    async with httpx.AsyncClient(base_url=server, timeout=15) as worker, httpx.AsyncClient(base_url=server) as producer:
        waiting = asyncio.create_task(worker.post("/v1/codeq/tasks/claim", headers=auth(worker_bearer),
                                                  json={"commands": [command], "waitSeconds": 5}))  # fmt: skip
        await asyncio.sleep(1.0)  # the claim is parked on an empty queue
        assert not waiting.done()

        created = await producer.post("/v1/codeq/tasks", json={"command": command, "payload": 1},
                                      headers=auth(producer_bearer))  # fmt: skip
        created_at = time.monotonic()
        claimed = await waiting
        woke_after = time.monotonic() - created_at

    assert claimed.status_code == 200 and claimed.json()["id"] == created.json()["id"]
    assert woke_after < 0.5, woke_after


async def test_a_waiting_claim_answers_204_after_wait_seconds(server, worker_bearer, command):
    async with httpx.AsyncClient(base_url=server, timeout=15) as client:
        started = time.monotonic()
        r = await client.post("/v1/codeq/tasks/claim", json={"commands": [command], "waitSeconds": 2},
                              headers=auth(worker_bearer))  # fmt: skip
        took = time.monotonic() - started

    assert r.status_code == 204 and r.content == b""
    assert 1.9 <= took < 3.0, took
