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

import codeq
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


async def test_two_claims_racing_for_one_task_get_one_200_and_one_204(
    server, producer_bearer, worker_bearer, other_worker, command
):
    async with (
        codeq.AsyncClient(server, producer_bearer) as producer,
        codeq.AsyncClient(server, worker_bearer) as a,
        codeq.AsyncClient(server, other_worker) as b,
    ):
        for _ in range(5):
            created = await producer.create(command, 1)

            answers = await asyncio.gather(a.claim([command]), b.claim([command]))

            [winner] = [task for task in answers if task is not None]
            assert answers.count(None) == 1
            assert winner.id == created.id and winner.attempts == 1


async def test_a_waiting_claim_wakes_well_under_a_second_after_a_create(
    server, producer_bearer, worker_bearer, command
):
    async with (
        codeq.AsyncClient(server, worker_bearer) as worker,
        codeq.AsyncClient(server, producer_bearer) as producer,
    ):
        waiting = asyncio.create_task(worker.claim([command], wait=5))
        await asyncio.sleep(1.0)  # the claim is parked on an empty queue
        assert not waiting.done()

        created = await producer.create(command, 1)
        created_at = time.monotonic()
        claimed = await waiting
        woke_after = time.monotonic() - created_at

    assert claimed is not None and claimed.id == created.id
    assert woke_after < 0.5, woke_after


async def test_a_waiting_claim_answers_204_after_wait_seconds(server, worker_bearer, command):
    async with codeq.AsyncClient(server, worker_bearer) as worker:
        started = time.monotonic()
        claimed = await worker.claim([command], wait=2)
        took = time.monotonic() - started

    assert claimed is None
    assert 1.9 <= took < 3.0, took
