"""Concurrency over real HTTP: the ASGI app served by uvicorn in a subprocess, on the test database.

The server is started once for the module with the test database's name (pytest-django's, read from
the connection once the database is set up) and a key prefix of its own; each test commits its tenant
and tokens (transactional_db) and uses commands no other test uses.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from codeq_platform.engine.store import connect as connect_store
from tests.api.calls import mint
from tests.conftest import JWT_SECRET
from tests.processes import child_database_url, free_port

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django.contrib.contenttypes",
                                                                      "django.contrib.auth", "tenants"])  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The base URL of a uvicorn serving the app on the test database."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    prefix = f"cqlive{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {**os.environ, "DATABASE_URL": child_database_url(name), "CODEQ_KV_PREFIX": prefix,
           "CODEQ_KV_URL": settings.CODEQ_KV_URL, "CODEQ_JWT_SECRET": JWT_SECRET,
           "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{prefix}:cache"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "codeq_platform.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        store = connect_store(settings.CODEQ_KV_URL)
        for key in store.scan_iter(match=f"{prefix}:*", count=1000):
            store.delete(key)
        store.close()


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
