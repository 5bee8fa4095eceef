"""Wake-up signals (reference §8) sent by the real listener to real receivers on 127.0.0.1.

Tasks are created through the API (in-process); the engine publishes on the wake channel; the
listener, started on its own thread as the scheduler starts it, signs and POSTs the wake-ups.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from codeq_platform.base import kv
from codeq_platform.webhooks.secrets import tenant_secrets
from codeq_platform.webhooks.services import new_webhook_secret
from codeq_platform.webhooks.wakeups import HASH_BUCKET_SECONDS, WakeupListener
from tests.api.calls import create, mint, post
from tests.conftest import JWT_SECRET
from tests.engine._redis_servers import RedisProcess, require_binary
from tests.factories import WebhookSubscriptionFactory
from tests.processes import child_database_url
from tests.webhooks.receivers import Received, Receiver

pytestmark = pytest.mark.django_db(
    transaction=True,
    available_apps=[
        "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles", "rest_framework",
        "drf_spectacular", "drf_spectacular_sidecar", "tenants", "codeq_platform.webhooks",
    ],
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
WAKE_FIELDS = {"eventType", "available", "queueDepth", "claimUrl", "sentAt", "notificationId"}


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings) -> None:
    """The receivers listen on 127.0.0.1, as ``make run`` allows."""
    settings.CODEQ_WEBHOOK_ALLOW_PRIVATE = True


def start_listener(settings) -> WakeupListener:
    listener = WakeupListener(kv_url=settings.CODEQ_KV_URL, prefix=settings.CODEQ_KV_PREFIX, allow_private=True,
                              timeout=2.0)  # fmt: skip
    listener.start()
    assert listener.ready.wait(5), "the listener did not subscribe"
    return listener


@pytest.fixture
def listener(settings, _fresh_kv_prefix) -> Iterator[WakeupListener]:
    running = start_listener(settings)
    yield running
    running.stop()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers) -> Receiver:
    return new_receiver(receivers)


def new_receiver(receivers: list[Receiver], script: list[int | str] | None = None) -> Receiver:
    receiver = Receiver(script=script or [200])
    receivers.append(receiver)
    return receiver


@pytest.fixture
def worker_secret(tenant) -> str:
    """What signs the tenant's worker wake-ups (reference §8: one secret, the tenant's)."""
    return tenant_secrets(tenant.pk)[0]


async def subscribe(http, token: str, url: str, **fields) -> str:
    r = await post(http, "/workers/subscriptions", token, {"callbackUrl": url, **fields})
    assert r.status_code == 200, r.text
    return r.json()["subscriptionId"]


async def claim(http, token: str, command: str = "resize") -> None:
    r = await post(http, "/tasks/claim", token, {"commands": [command]})
    assert r.status_code == 200, r.text


async def arrivals(receiver: Receiver, count: int, within: float) -> list[Received]:
    return await asyncio.to_thread(receiver.wait_for, count, within)


def assert_signed(request: Received, secret: str) -> dict:
    """Both signatures verify over the exact bytes received; returns the body."""
    body = Webhook(secret).verify(request.body, request.headers)
    signed = request.headers["X-CodeQ-Timestamp"].encode() + b"." + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-CodeQ-Signature"], expected)
    return body


async def test_a_wake_up_arrives_within_a_second_of_a_task_entering_an_idle_queue(
    listener, http, receiver, producer_bearer, worker_bearer, worker_secret
):
    await subscribe(http, worker_bearer, receiver.url(), eventTypes=["Resize"])

    await create(http, producer_bearer, "resize")
    created_at = time.monotonic()
    [request] = await arrivals(receiver, 1, within=1.0)

    assert time.monotonic() - created_at < 1.0
    body = assert_signed(request, worker_secret)
    assert set(body) == WAKE_FIELDS
    assert body["eventType"] == "resize" and body["available"] is True and body["queueDepth"] == 1
    assert body["claimUrl"] == "/v1/codeq/tasks/claim"
    assert abs(datetime.fromisoformat(body["sentAt"]).timestamp() - time.time()) < 5
    assert body["notificationId"] == request.headers["webhook-id"]
    assert json.loads(request.body) == body


async def test_two_enqueues_within_the_interval_wake_once_and_the_next_interval_wakes_again(
    listener, http, receiver, producer_bearer, worker_bearer
):
    await subscribe(http, worker_bearer, receiver.url(), minIntervalSeconds=2)
    await create(http, producer_bearer)
    await arrivals(receiver, 1, within=1.0)
    await claim(http, worker_bearer)
    await create(http, producer_bearer)  # the queue went empty -> non-empty again, inside the interval

    await asyncio.sleep(1.0)
    assert len(receiver.received) == 1

    await asyncio.sleep(1.2)
    await claim(http, worker_bearer)
    await create(http, producer_bearer)
    assert len(await arrivals(receiver, 2, within=1.0)) == 2


async def test_fanout_wakes_every_subscription(listener, http, receivers, producer_bearer, worker_bearer):
    first, second = new_receiver(receivers), new_receiver(receivers)
    await subscribe(http, worker_bearer, first.url())
    await subscribe(http, worker_bearer, second.url(), deliveryMode="fanout")

    await create(http, producer_bearer)

    assert len(await arrivals(first, 1, within=1.0)) == 1
    assert len(await arrivals(second, 1, within=1.0)) == 1


async def test_a_group_wakes_one_member_per_wake_up_in_turn(listener, http, receivers, producer_bearer,
                                                           worker_bearer):  # fmt: skip
    members = [new_receiver(receivers) for _ in range(3)]
    for member in members:
        await subscribe(http, worker_bearer, member.url(), deliveryMode="group", groupId="pool", minIntervalSeconds=1)
    other_group = new_receiver(receivers)
    await subscribe(http, worker_bearer, other_group.url(), deliveryMode="group", groupId="other",
                    minIntervalSeconds=60)  # fmt: skip

    for round_ in range(1, 4):
        await create(http, producer_bearer)
        await asyncio.sleep(0.8)
        assert sum(len(m.received) for m in members) == round_
        await claim(http, worker_bearer)
        # Past the group's one-second gate, which starts when the listener handles the wake-up: a
        # listener slowed by a loaded machine must not make the next round hit the gate.
        await asyncio.sleep(1.0)

    assert [len(m.received) for m in members] == [1, 1, 1]
    assert len(other_group.received) == 1  # its own interval held it to one


async def test_two_listeners_receiving_the_same_message_wake_each_receiver_once(
    listener, settings, http, receivers, producer_bearer, worker_bearer
):
    second = start_listener(settings)
    try:
        alone, members = new_receiver(receivers), [new_receiver(receivers) for _ in range(2)]
        await subscribe(http, worker_bearer, alone.url())
        for member in members:
            await subscribe(http, worker_bearer, member.url(), deliveryMode="group", groupId="pool")

        await create(http, producer_bearer)
        await asyncio.sleep(1.0)

        assert len(alone.received) == 1
        assert sum(len(m.received) for m in members) == 1
    finally:
        second.stop()


async def test_hash_mode_wakes_the_one_subscription_of_the_time_bucket(listener, http, receivers, producer_bearer,
                                                                       worker_bearer):  # fmt: skip
    by_id = {}
    for _ in range(3):
        receiver = new_receiver(receivers)
        by_id[await subscribe(http, worker_bearer, receiver.url(), deliveryMode="hash")] = receiver
    before = int(time.time())

    await create(http, producer_bearer)
    await asyncio.sleep(1.0)

    ordered = [by_id[i] for i in sorted(by_id)]
    expected = {id(ordered[t // HASH_BUCKET_SECONDS % 3]) for t in (before, int(time.time()))}
    woken = [r for r in ordered if r.received]
    assert len(woken) == 1 and len(woken[0].received) == 1
    assert id(woken[0]) in expected


async def test_a_lapsed_subscription_is_not_woken_and_a_heartbeat_keeps_one_alive(
    listener, http, receivers, producer_bearer, worker_bearer
):
    lapsing, kept = new_receiver(receivers), new_receiver(receivers)
    await subscribe(http, worker_bearer, lapsing.url(), ttlSeconds=1)
    kept_id = await subscribe(http, worker_bearer, kept.url(), ttlSeconds=1)
    r = await post(http, f"/workers/subscriptions/{kept_id}/heartbeat", worker_bearer, {"ttlSeconds": 30})
    assert r.status_code == 200
    await asyncio.sleep(1.2)

    await create(http, producer_bearer)

    assert len(await arrivals(kept, 1, within=1.0)) == 1
    await asyncio.sleep(0.3)
    assert lapsing.received == []


@pytest.fixture
def own_subscriptions(tenant, receivers):
    """The tenant's own subscriptions: one to task.available for resize, one to results only."""
    available, results = new_receiver(receivers), new_receiver(receivers)
    secret = new_webhook_secret()
    WebhookSubscriptionFactory(tenant=tenant, url=available.url(), events=["task.available"], commands=["RESIZE"],
                               secret=secret)  # fmt: skip
    WebhookSubscriptionFactory(tenant=tenant, url=results.url(), events=["task.completed"], secret=new_webhook_secret())
    return available, results, secret


async def test_a_tenant_subscription_to_task_available_is_woken_signed_with_its_own_secret(
    listener, http, own_subscriptions, producer_bearer
):
    available, results, secret = own_subscriptions

    await create(http, producer_bearer, "resize")

    [request] = await arrivals(available, 1, within=1.0)
    body = assert_signed(request, secret)
    assert set(body) == WAKE_FIELDS and body["eventType"] == "resize" and body["queueDepth"] == 1
    await create(http, producer_bearer, "thumbs")
    await asyncio.sleep(0.5)
    assert len(available.received) == 1 and results.received == []


@pytest.fixture
def foreign_producer(foreign_tenant) -> str:
    return mint(foreign_tenant, "producer")


async def test_other_commands_and_other_tenants_wake_nobody(listener, http, receiver, producer_bearer,
                                                            worker_bearer, foreign_producer):  # fmt: skip
    await subscribe(http, worker_bearer, receiver.url(), eventTypes=["resize"])

    await create(http, producer_bearer, "thumbs")
    await create(http, foreign_producer, "resize")
    await asyncio.sleep(0.7)
    assert receiver.received == []

    await create(http, producer_bearer, "resize")
    assert len(await arrivals(receiver, 1, within=1.0)) == 1


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


async def test_a_receiver_that_is_down_or_slow_holds_up_no_one(listener, http, receivers, producer_bearer,
                                                               worker_bearer):  # fmt: skip
    slow, fast = new_receiver(receivers, ["slow:1.5"]), new_receiver(receivers)
    await subscribe(http, worker_bearer, closed_port_url(), eventTypes=["resize"])
    await subscribe(http, worker_bearer, slow.url(), eventTypes=["resize"])
    await subscribe(http, worker_bearer, fast.url(), eventTypes=["resize"])
    await subscribe(http, worker_bearer, fast.url("/thumbs"), eventTypes=["thumbs"])

    await create(http, producer_bearer, "resize")
    await arrivals(fast, 1, within=1.0)
    await create(http, producer_bearer, "thumbs")  # while the slow receiver still holds its wake-up

    assert [r.path for r in await arrivals(fast, 2, within=1.0)] == ["/hook", "/thumbs"]
    assert len(slow.received) == 1


@pytest.fixture
def own_store(tmp_path, settings) -> Iterator[RedisProcess]:
    """A redis-server of the test's own, which the test stops and starts again."""
    server = RedisProcess(tmp_path / "store", executable=require_binary("redis-server")).start()
    shared_url, settings.CODEQ_KV_URL = settings.CODEQ_KV_URL, server.url
    kv.reset()
    yield server
    settings.CODEQ_KV_URL = shared_url
    kv.reset()
    server.kill()


async def test_the_listener_reconnects_by_itself_after_a_store_outage(own_store, settings, http, receiver,
                                                                      producer_bearer, worker_bearer):  # fmt: skip
    listener = start_listener(settings)
    try:
        await subscribe(http, worker_bearer, receiver.url())
        own_store.kill()
        deadline = time.monotonic() + 5
        while listener.ready.is_set():
            assert time.monotonic() < deadline, "the listener did not notice the outage"
            await asyncio.sleep(0.05)
        await asyncio.to_thread(own_store.start)  # same port, empty: the subscription is gone with the data
        kv.reset()
        assert await asyncio.to_thread(listener.ready.wait, 5), "the listener did not come back"
        await subscribe(http, worker_bearer, receiver.url())

        await create(http, producer_bearer)

        assert len(await arrivals(receiver, 1, within=1.0)) == 1
    finally:
        await asyncio.to_thread(listener.stop)


@pytest.fixture
def scheduler(settings) -> Iterator[subprocess.Popen[str]]:
    """``manage.py codeq_scheduler`` as a real process on the test's database and key prefix."""
    env = {**os.environ, "DATABASE_URL": child_database_url(), "CODEQ_KV_URL": settings.CODEQ_KV_URL,
           "CODEQ_KV_PREFIX": settings.CODEQ_KV_PREFIX, "CODEQ_WEBHOOK_ALLOW_PRIVATE": "1",
           "SECRET_KEY": "test-only-django-secret-key", "CODEQ_JWT_SECRET": JWT_SECRET}  # fmt: skip
    process = subprocess.Popen([sys.executable, "manage.py", "codeq_scheduler"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(10)


async def test_the_scheduler_process_sends_wake_ups_and_stops_cleanly_on_sigterm(
    scheduler, http, receiver, producer_bearer, worker_bearer
):
    await subscribe(http, worker_bearer, receiver.url(), minIntervalSeconds=1)
    deadline = time.monotonic() + 20
    while not receiver.received:  # until the process has subscribed to the wake channels
        if scheduler.poll() is not None or time.monotonic() > deadline:
            scheduler.kill()
            pytest.fail(f"no wake-up from the scheduler process:\n{scheduler.communicate()[0]}")
        await create(http, producer_bearer)
        await asyncio.sleep(0.5)
        await claim(http, worker_bearer)

    scheduler.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(scheduler.wait, 15)

    output = scheduler.stdout.read() if scheduler.stdout else ""
    assert code == 0, output
    assert "Traceback" not in output, output
