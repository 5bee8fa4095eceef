"""The scheduler's background loops outlive the store's restarts, come back when they end anyway, and
are shown by ``/readyz`` and ``/metrics`` through the heartbeat each scheduler process writes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis
from django.conf import settings as django_settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from codeq_platform.base import kv
from codeq_platform.scheduler.heartbeat import JobHealth, Supervisor, heartbeat_key
from codeq_platform.webhooks.deliveries import send_test_event
from codeq_platform.webhooks.dispatcher import Dispatcher
from codeq_platform.webhooks.models import Delivery
from codeq_platform.webhooks.wakeups import WakeupListener
from tests.api.calls import API_DB
from tests.engine._redis_servers import RedisProcess, require_binary
from tests.factories import WebhookSubscriptionFactory
from tests.processes import child_database_url
from tests.webhooks.receivers import Receiver

pytestmark = pytest.mark.django_db(transaction=True, available_apps=[*API_DB.kwargs["available_apps"],
                                                                      "codeq_platform.webhooks"])  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def own_store(tmp_path, settings) -> Iterator[RedisProcess]:
    """A redis-server of the test's own with an append-only file, which the test restarts."""
    server = RedisProcess(tmp_path / "store", executable=require_binary("redis-server"),
                          extra=["--appendonly", "yes", "--appendfsync", "always"]).start()  # fmt: skip
    shared_url, settings.CODEQ_KV_URL = settings.CODEQ_KV_URL, server.url
    kv.reset()
    yield server
    settings.CODEQ_KV_URL = shared_url
    kv.reset()
    server.kill()


@pytest.fixture
def scheduler(settings, own_store, tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py codeq_scheduler`` on the test's database and own store; killed at the end."""
    env = {**os.environ, "DATABASE_URL": child_database_url(), "CODEQ_KV_URL": own_store.url,
           "CODEQ_KV_PREFIX": settings.CODEQ_KV_PREFIX, "SECRET_KEY": "test-only-django-secret-key",
           "CODEQ_CACHE_PREFIX": f"{settings.CODEQ_KV_PREFIX}:cache", "CODEQ_WEBHOOK_ALLOW_PRIVATE": "1"}  # fmt: skip
    with open(tmp_path / "scheduler.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "manage.py", "codeq_scheduler"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGCONT)
        process.kill()
    process.wait(10)


def heartbeats(store: redis.Redis, prefix: str) -> list[dict]:
    return [orjson.loads(raw) for raw in store.hgetall(heartbeat_key(prefix)).values()]


def test_pending_deliveries_go_out_once_a_restarted_store_has_loaded_its_data(tenant, own_store, scheduler,
                                                                            receiver, settings):  # fmt: skip
    store = own_store.client()
    wait_for(lambda: any(b["loops"]["dispatcher"]["alive"] for b in heartbeats(store, settings.CODEQ_KV_PREFIX)),
             60, "the scheduler's first heartbeat")  # fmt: skip
    subscription = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url())
    scheduler.send_signal(signal.SIGSTOP)  # the deliveries stay pending until the store is back
    for _ in range(3):
        send_test_event(subscription=subscription, actor="alice")

    own_store.restart_loading()
    with pytest.raises(redis.BusyLoadingError), own_store.client(retry=Retry(NoBackoff(), 0)) as probe:
        probe.ping()
    scheduler.send_signal(signal.SIGCONT)

    receiver.wait_for(3, timeout=90)
    wait_for(lambda: Delivery.objects.filter(status=Delivery.Status.DELIVERED).count() == 3, 30, "recorded")
    assert scheduler.poll() is None
    [beat] = heartbeats(store, settings.CODEQ_KV_PREFIX)
    assert beat["loops"]["dispatcher"] == {"alive": True, "restarts": 0}  # it lived through, not restarted
    assert beat["loops"]["wakeups"]["alive"]


@pytest.fixture
def supervisor(settings) -> Iterator[Supervisor]:
    client = redis.Redis.from_url(django_settings.CODEQ_KV_URL)
    loops = {"dispatcher": Dispatcher(concurrency=2, timeout=2.0, allow_private=True, grace=1),
             "wakeups": WakeupListener.from_settings()}  # fmt: skip
    running = Supervisor(client, settings.CODEQ_KV_PREFIX, loops, JobHealth())
    running.start()
    yield running
    running.stop()
    client.close()


async def test_readyz_says_down_while_no_scheduler_runs(http):
    ready = (await http.get("/readyz")).json()

    assert {k: ready["checks"][k] for k in ("database", "kv", "scheduler")} == {
        "database": "ok",
        "kv": "ok",
        "scheduler": "down",
    }
    assert ready["scheduler"] == []


async def test_a_loop_that_ended_is_started_again_and_readyz_and_metrics_show_it(http, supervisor):
    await asyncio.to_thread(supervisor.tick)
    assert (await http.get("/readyz")).json()["checks"]["scheduler"] == "ok"

    await asyncio.to_thread(supervisor.loops["dispatcher"].stop)  # its thread ends, as after an unforeseen error
    await asyncio.to_thread(supervisor.tick)

    assert supervisor.loops["dispatcher"].alive
    ready = (await http.get("/readyz")).json()
    assert ready["checks"]["scheduler"] == "ok"
    [process] = ready["scheduler"]
    assert process["loops"] == {"dispatcher": {"alive": True, "restarts": 1},
                                "wakeups": {"alive": True, "restarts": 0}}  # fmt: skip
    metrics = (await http.get("/metrics")).text
    assert f'codeq_scheduler_loop_restarts_total{{loop="dispatcher",process="{process["process"]}"}} 1.0' in metrics
    assert f'codeq_scheduler_loop_up{{loop="wakeups",process="{process["process"]}"}} 1.0' in metrics
