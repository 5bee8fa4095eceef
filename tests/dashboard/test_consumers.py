"""The overview's websocket: session auth, membership, one tenant's group only, snapshots relayed."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.test import Client

from codeq_platform.asgi import application
from codeq_platform.engine import NewTask
from codeq_platform.scheduler import stats
from dashboard.consumers import NO_ACCESS, SIGNED_OUT, PollingSocket, StatsConsumer
from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), ORIGIN]


@pytest.fixture
def member(tenant):
    return MembershipFactory(tenant=tenant, role="viewer").user


async def _connect(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def _first_snapshot(communicator) -> dict:
    """The socket's first snapshot. The socket marks its tenant watched just after it opens, and the stats
    job sends only watched or active tenants: wait for the mark, then run the job."""

    def watched() -> bool:
        return "acme" in stats.tenants_named(stats.tenants_to_visit(int(time.time() * 1000)))

    deadline = time.monotonic() + 60
    while not await database_sync_to_async(watched)():
        assert time.monotonic() < deadline, "the socket's tenant was not marked watched within 60 s"
        await asyncio.sleep(0.05)
    await database_sync_to_async(stats.broadcast)()
    return await communicator.receive_json_from(timeout=10)


async def test_a_member_receives_their_tenants_snapshots(member, foreign_tenant, queues):
    communicator, connected = await _connect(
        "/dashboard/ws/t/acme/stats/", await database_sync_to_async(_session_headers)(member)
    )
    assert connected

    snapshot = await _first_snapshot(communicator)  # the job publishes acme's and globex's snapshots

    assert snapshot["tenant"] == "acme" and "totals" in snapshot and "commands" in snapshot
    assert await communicator.receive_nothing(timeout=1)  # globex's snapshot never reaches acme's socket
    await communicator.disconnect()


async def test_another_tenants_socket_is_refused(member, foreign_tenant, queues):
    _, connected = await _connect(
        "/dashboard/ws/t/globex/stats/", await database_sync_to_async(_session_headers)(member)
    )

    assert not connected


async def test_staff_may_follow_any_tenant(foreign_tenant, queues):
    staff = await database_sync_to_async(UserFactory)(username="platform-operator", is_staff=True)
    communicator, connected = await _connect(
        "/dashboard/ws/t/globex/stats/", await database_sync_to_async(_session_headers)(staff)
    )

    assert connected
    await communicator.disconnect()


async def test_an_anonymous_socket_is_refused(tenant, queues):
    _, connected = await _connect("/dashboard/ws/t/acme/stats/", [ORIGIN])

    assert not connected


async def test_a_socket_from_a_foreign_origin_is_refused(member, queues):
    headers = [h for h in await database_sync_to_async(_session_headers)(member) if h[0] != b"origin"]

    _, connected = await _connect("/dashboard/ws/t/acme/stats/", [*headers, (b"origin", b"https://evil.example")])

    assert not connected


async def test_a_removed_member_stops_receiving_snapshots(member, queues, monkeypatch):
    monkeypatch.setattr(StatsConsumer, "RECHECK_SECONDS", 0.0)
    communicator, connected = await _connect(
        "/dashboard/ws/t/acme/stats/", await database_sync_to_async(_session_headers)(member)
    )
    assert connected
    assert (await _first_snapshot(communicator))["tenant"] == "acme"

    await database_sync_to_async(Membership.objects.filter(user=member).delete)()
    await database_sync_to_async(stats.broadcast)()

    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    await communicator.disconnect()


async def test_a_logout_ends_the_stream(member, queues, monkeypatch):
    monkeypatch.setattr(StatsConsumer, "RECHECK_SECONDS", 0.0)
    headers = await database_sync_to_async(_session_headers)(member)
    communicator, connected = await _connect("/dashboard/ws/t/acme/stats/", headers)
    assert connected

    await database_sync_to_async(Session.objects.all().delete)()
    await database_sync_to_async(stats.broadcast)()

    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    await communicator.disconnect()


async def test_logging_out_closes_that_sessions_socket_at_once_and_says_why(member, queues):
    client = Client()
    await database_sync_to_async(client.force_login)(member)
    headers = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), ORIGIN]
    other, _ = await _connect("/dashboard/ws/t/acme/stats/", await database_sync_to_async(_session_headers)(member))
    communicator, connected = await _connect("/dashboard/ws/t/acme/stats/", headers)
    assert connected

    await database_sync_to_async(client.post)("/dashboard/logout/")  # no snapshot needed, no recheck waited for

    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": SIGNED_OUT}
    await database_sync_to_async(stats.broadcast)()
    assert (await other.receive_json_from(timeout=5))["tenant"] == "acme"  # the user's other session goes on
    await communicator.disconnect()
    await other.disconnect()


async def test_a_removed_membership_closes_the_socket_at_once_and_says_why(member, queues):
    communicator, connected = await _connect(
        "/dashboard/ws/t/acme/stats/", await database_sync_to_async(_session_headers)(member)
    )
    assert connected

    await database_sync_to_async(Membership.objects.filter(user=member).delete)()

    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": NO_ACCESS}
    await communicator.disconnect()


async def test_a_tasks_socket_sends_its_status_and_each_change(member, queues, monkeypatch):
    monkeypatch.setattr(PollingSocket, "POLL_SECONDS", 0.05)
    task = await database_sync_to_async(queues.enqueue)("acme", NewTask("media.resize", {}))
    communicator, connected = await _connect(
        f"/dashboard/ws/t/acme/tasks/{task.task.id}/", await database_sync_to_async(_session_headers)(member)
    )
    assert connected
    first = await communicator.receive_json_from(timeout=5)
    assert (first["status"], first["state"], first["attempts"]) == ("PENDING", "ready", 0)

    await database_sync_to_async(queues.claim)("acme", "worker-5", ["media.resize"])
    changed = await communicator.receive_json_from(timeout=5)

    assert (changed["status"], changed["state"], changed["worker_id"]) == ("IN_PROGRESS", "leased", "worker-5")
    assert await communicator.receive_nothing(timeout=0.3)  # nothing more while nothing changes
    await database_sync_to_async(queues.release)("acme", "media.resize", [task.task.id], "ada")
    assert (await communicator.receive_json_from(timeout=5))["state"] == "ready"
    await communicator.disconnect()


async def test_a_deleted_tasks_socket_says_it_is_gone(member, queues, monkeypatch):
    monkeypatch.setattr(PollingSocket, "POLL_SECONDS", 0.05)
    task = await database_sync_to_async(queues.enqueue)("acme", NewTask("media.resize", {}))
    communicator, _ = await _connect(
        f"/dashboard/ws/t/acme/tasks/{task.task.id}/", await database_sync_to_async(_session_headers)(member)
    )
    await communicator.receive_json_from(timeout=5)

    await database_sync_to_async(queues.delete)("acme", task.task.id)

    assert await communicator.receive_json_from(timeout=5) == {"gone": True}
    await communicator.disconnect()


async def test_another_tenants_task_socket_is_refused(member, foreign_tenant, queues):
    task = await database_sync_to_async(queues.enqueue)("globex", NewTask("secret.work", {}))

    _, connected = await _connect(
        f"/dashboard/ws/t/globex/tasks/{task.task.id}/", await database_sync_to_async(_session_headers)(member)
    )

    assert not connected


async def test_the_leases_socket_follows_the_pages_filter(member, queues, monkeypatch):
    monkeypatch.setattr(PollingSocket, "POLL_SECONDS", 0.05)
    await database_sync_to_async(queues.enqueue_batch)("acme", [NewTask("a", {}), NewTask("b", {})])
    await database_sync_to_async(queues.claim)("acme", "worker-a", ["a"])
    communicator, connected = await _connect(
        "/dashboard/ws/t/acme/leases/?command=b", await database_sync_to_async(_session_headers)(member)
    )
    assert connected
    assert (await communicator.receive_json_from(timeout=5)) == {"leases": []}

    (held,) = await database_sync_to_async(queues.claim)("acme", "worker-b", ["b"])
    rows = (await communicator.receive_json_from(timeout=5))["leases"]

    assert [(r["id"], r["worker_id"], r["command"]) for r in rows] == [(held.id, "worker-b", "b")]
    await communicator.disconnect()


async def test_a_removed_member_stops_following_a_task(member, queues, monkeypatch):
    monkeypatch.setattr(PollingSocket, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(PollingSocket, "RECHECK_SECONDS", 0.0)
    task = await database_sync_to_async(queues.enqueue)("acme", NewTask("media.resize", {}))
    communicator, _ = await _connect(
        f"/dashboard/ws/t/acme/tasks/{task.task.id}/", await database_sync_to_async(_session_headers)(member)
    )
    await communicator.receive_json_from(timeout=5)

    await database_sync_to_async(Membership.objects.filter(user=member).delete)()

    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    await communicator.disconnect()
