"""Two API hosts whose clocks differ by 30 s agree on leases and due times: the store's clock rules.

Host A keeps the machine's time; host B's process runs 30 s ahead (``tests/skewed_clock.py``). Both
serve the same database and key prefix, as two hosts behind one load balancer would.
"""

from __future__ import annotations

import email.utils
import os
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings
from django.db import connection

from codeq_platform.engine.store import connect as connect_store
from tests.conftest import JWT_SECRET
from tests.processes import api_server, child_database_url

pytestmark = pytest.mark.django_db(transaction=True, available_apps=["django.contrib.contenttypes",
                                                                      "django.contrib.auth", "tenants"])  # fmt: skip

AHEAD = 30


@pytest.fixture(scope="module")
def hosts(django_db_setup, django_db_blocker) -> Iterator[tuple[str, str]]:
    """Base URLs of host A (true clock) and host B (clock 30 s ahead)."""
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
    prefix = f"cqskew{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DATABASE_URL": child_database_url(name), "CODEQ_KV_PREFIX": prefix,
           "CODEQ_KV_URL": settings.CODEQ_KV_URL, "CODEQ_JWT_SECRET": JWT_SECRET,
           "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{prefix}:cache"}  # fmt: skip
    try:
        with api_server(env) as a, api_server(env, clock_ahead_seconds=AHEAD) as b:
            yield a, b
    finally:
        store = connect_store(settings.CODEQ_KV_URL)
        for key in store.scan_iter(match=f"{prefix}:*", count=1000):
            store.delete(key)
        store.close()


@pytest.fixture
def command() -> str:
    return f"skew-{uuid.uuid4().hex[:8]}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(base: str, token: str, command: str, **fields) -> dict:
    r = httpx.post(f"{base}/v1/codeq/tasks", json={"command": command, "payload": 1, **fields}, headers=auth(token))
    assert r.status_code == 202, r.text
    return r.json()


def claim(base: str, token: str, command: str, **fields) -> httpx.Response:
    return httpx.post(f"{base}/v1/codeq/tasks/claim", json={"commands": [command], **fields}, headers=auth(token),
                      timeout=30)  # fmt: skip


def test_host_b_clock_really_runs_30_seconds_ahead(hosts):
    a, b = hosts
    dates = [email.utils.parsedate_to_datetime(httpx.get(f"{base}/healthz").headers["date"]) for base in (a, b)]
    assert AHEAD - 5 <= (dates[1] - dates[0]).total_seconds() <= AHEAD + 5


def test_a_host_whose_clock_runs_ahead_does_not_expire_a_lease_early(hosts, producer_bearer, worker_bearer, command):
    a, b = hosts
    created = create(a, producer_bearer, command)
    held = claim(a, worker_bearer, command, leaseSeconds=20)
    assert held.status_code == 200 and held.json()["id"] == created["id"]

    # By B's clock the 20 s lease ended 10 s ago; by the store's it has 20 s to go.
    assert claim(b, worker_bearer, command).status_code == 204
    task = httpx.get(f"{b}/v1/codeq/tasks/{created['id']}", headers=auth(producer_bearer)).json()
    assert task["status"] == "IN_PROGRESS" and task["attempts"] == 1


def test_a_host_whose_clock_runs_ahead_does_not_deliver_a_delayed_task_early(
    hosts, producer_bearer, worker_bearer, command
):
    a, b = hosts
    create(a, producer_bearer, command, delaySeconds=20)

    assert claim(b, worker_bearer, command).status_code == 204


def test_a_task_delayed_on_a_host_whose_clock_runs_ahead_is_not_delivered_late(
    hosts, producer_bearer, worker_bearer, command
):
    a, b = hosts
    created = create(b, producer_bearer, command, delaySeconds=1)
    started = time.monotonic()

    # By B's clock the task is due 31 s from now; by the store's, in 1 s. Claims wait up to 2 s a time.
    while (r := claim(a, worker_bearer, command, waitSeconds=2)).status_code == 204:
        assert time.monotonic() - started < AHEAD - 5, "delivered no earlier than host B's clock says"

    assert r.status_code == 200 and r.json()["id"] == created["id"]
