"""The whole platform on every store it is built for, as processes: a web server (uvicorn) and
scheduler processes on the test database and a store the module starts and stops itself.

- ``kvrocks``: one KVRocks with its stock configuration (fresh data directory, nothing tuned);
- ``redis-cluster``: three redis-server primaries (``redis+cluster://``);
- ``kvrocks-cluster``: three KVRocks primaries given their topology with ``CLUSTERX SETNODES``, where a
  ``PUBLISH`` stays on the node it was made on;
- ``redis-tls``: a redis-server with only its TLS port open, asking for client certificates (a throwaway
  CA made in the tmp dir; the processes get it through ``CODEQ_KV_TLS_*``).

One journey per store, through every component that reaches the store: tenants whose keys live on
every node create, claim and report tasks (bearer grants come from the token cache); a tenant over its
rate limit gets 429; ``/metrics`` counts the results; a worker subscription is woken; the dashboard's
websocket relays a snapshot showing a new task; a schedule fires one task per slot with two schedulers
running; the leading scheduler is killed, its standby sweeps an expired lease, and a replacement joins.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client
from redis.crc import key_slot

from codeq_platform.engine import Engine, EngineConfig, State, connect
from codeq_platform.engine.store import TLS
from tenants import bearer
from tests.conftest import JWT_SECRET
from tests.engine._redis_servers import (
    KvrocksProcess,
    RedisProcess,
    TlsRedisProcess,
    kvrocks_binary,
    make_tls_files,
    start_kvrocks_cluster,
    start_redis_cluster,
)
from tests.factories import ApiTokenFactory, MembershipFactory, TenantFactory, UserFactory
from tests.processes import answers, child_database_url, free_port, wait_until
from tests.webhooks.receivers import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
# The slot ranges both cluster recipes give their three primaries.
NODE_SLOTS = ((0, 5460), (5461, 10922), (10923, 16383))


@dataclass
class Store:
    name: str
    url: str
    nodes: list[RedisProcess]
    tls: TLS | None = None

    def env(self) -> dict[str, str]:
        if self.tls is None:
            return {"CODEQ_KV_URL": self.url}
        return {"CODEQ_KV_URL": self.url, "CODEQ_KV_TLS_CA_FILE": self.tls.ca_file,
                "CODEQ_KV_TLS_CERT_FILE": self.tls.cert_file, "CODEQ_KV_TLS_KEY_FILE": self.tls.key_file}  # fmt: skip


@pytest.fixture(scope="module", params=["kvrocks", "redis-cluster", "kvrocks-cluster", "redis-tls"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    if request.param.startswith("kvrocks"):
        kvrocks_binary()
    directory = tmp_path_factory.mktemp(request.param)
    nodes: list[RedisProcess] = []
    try:
        if request.param == "kvrocks":
            nodes.append(KvrocksProcess(directory).start())
            yield Store(request.param, nodes[0].url, nodes)
        elif request.param == "redis-tls":
            files = make_tls_files(directory / "certs")
            nodes.append(TlsRedisProcess(directory, files).start())
            tls = TLS(str(files.ca), str(files.client_cert), str(files.client_key))
            yield Store(request.param, nodes[0].url, nodes, tls)
        else:
            (start_redis_cluster if request.param == "redis-cluster" else start_kvrocks_cluster)(directory, nodes)
            yield Store(request.param, f"redis+cluster://127.0.0.1:{nodes[0].port}", nodes)
    finally:
        for node in nodes:
            node.kill()


class Platform:
    """A web process and any number of scheduler processes over one store and key prefix."""

    def __init__(self, store: Store, logs: Path) -> None:
        self.prefix = f"cqs{uuid.uuid4().hex[:10]}"
        self.logs = logs
        self.env = {**os.environ, "DATABASE_URL": child_database_url(connection.settings_dict["NAME"]),
                    **store.env(), "CODEQ_KV_PREFIX": self.prefix, "CODEQ_JWT_SECRET": JWT_SECRET,
                    "SECRET_KEY": "test-only-django-secret-key", "CODEQ_CACHE_PREFIX": f"{self.prefix}:cache",
                    "CODEQ_WEBHOOK_ALLOW_PRIVATE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.engine = Engine(connect(store.url, store.tls), EngineConfig(prefix=self.prefix))

    def _spawn(self, name: str, args: list[str], **kwargs) -> subprocess.Popen:
        log = (self.logs / f"{name}-{len(self.processes)}.log").open("w")
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stderr=log, **kwargs)
        self.processes.append(process)
        return process

    def start_web(self) -> None:
        web = self._spawn("web", ["-m", "uvicorn", "codeq_platform.asgi:application", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--log-level", "warning"])  # fmt: skip
        wait_until(lambda: answers(f"{self.base}/readyz"), "the web process did not get ready",
                   alive=lambda: web.poll() is None)  # fmt: skip

    def start_scheduler(self) -> subprocess.Popen:
        process = self._spawn("scheduler", ["manage.py", "codeq_scheduler"], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().startswith("codeq scheduler running"), "the scheduler did not start"
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()
        self.engine.close()
        self.engine.client.close()

    def call(self, method: str, path: str, token: str, body: dict | None = None) -> httpx.Response:
        return httpx.request(method, f"{self.base}/v1/codeq{path}", json=body, timeout=15,
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip


@pytest.fixture
def platform(store: Store, tmp_path: Path) -> Iterator[Platform]:
    running = Platform(store, tmp_path)
    try:
        running.start_web()
        yield running
    finally:
        running.stop()
        client = running.engine.client
        for key in client.scan_iter(match=f"{running.prefix}:*", count=1000):
            client.delete(key)


def tenants_on_every_node(count_per_node: int = 1) -> list[str]:
    """Tenant slugs whose first shard's hash slot lies in each node's range."""
    picked: dict[int, list[str]] = {i: [] for i in range(len(NODE_SLOTS))}
    n = 0
    while any(len(slugs) < count_per_node for slugs in picked.values()):
        slug = f"org{n}"
        slot = key_slot(f"t:{slug}:0".encode())
        node = next(i for i, (low, high) in enumerate(NODE_SLOTS) if low <= slot <= high)
        if len(picked[node]) < count_per_node:
            picked[node].append(slug)
        n += 1
    return [slug for slugs in picked.values() for slug in slugs]


def tokens(tenant) -> dict[str, str]:
    return {role: bearer.mint(ApiTokenFactory(tenant=tenant, role=role)) for role in ("producer", "worker", "admin")}


async def _first_snapshot(url: str, cookie: str, origin: str, condition: Callable[[dict], bool],
                          on_open: Callable[[], None], seconds: float) -> dict:  # fmt: skip
    headers = {"Cookie": cookie, "Origin": origin}
    async with websockets.connect(url, additional_headers=headers, open_timeout=15) as socket:
        on_open()
        async with asyncio.timeout(seconds):
            while True:
                snapshot = orjson.loads(await socket.recv())
                if condition(snapshot):
                    return snapshot


def test_the_platform_works_end_to_end_on_the_store(store: Store, platform: Platform):
    slugs = tenants_on_every_node()
    tenants = {slug: TenantFactory(slug=slug) for slug in slugs}
    bearers = {slug: tokens(tenant) for slug, tenant in tenants.items()}
    leader = platform.start_scheduler()

    # Tasks of tenants on every node: create, claim, report, read the result.
    for slug, token in bearers.items():
        created = platform.call("POST", "/tasks", token["producer"], {"command": "ocr", "payload": {"t": slug}})
        assert created.status_code == 202, created.text
        claimed = platform.call("POST", "/tasks/claim", token["worker"], {"commands": ["ocr"]})
        assert claimed.status_code == 200, claimed.text
        task_id = claimed.json()["id"]
        assert task_id == created.json()["id"]
        reported = platform.call("POST", f"/tasks/{task_id}/result", token["worker"],
                                 {"status": "COMPLETED", "result": {"text": slug}})  # fmt: skip
        assert reported.status_code == 200, reported.text
        result = platform.call("GET", f"/tasks/{task_id}/result", token["producer"])
        assert result.json()["result"]["result"] == {"text": slug}
    if len(store.nodes) > 1:
        holders = {node.port for node in store.nodes
                   if any(key.endswith(b":tasks") for key in node.client(protocol=2).scan_iter(
                       match=f"{platform.prefix}:*"))}  # fmt: skip
        assert len(holders) == len(store.nodes), "the tenants' keys do not span every node"

    # The rate limiter and the metrics endpoint.
    limited = tenants[slugs[0]]
    limited.requests_per_second = 3
    limited.save()

    def statuses(count: int) -> set[int]:
        return {platform.call("GET", "/admin/queues", bearers[slugs[0]]["admin"]).status_code for _ in range(count)}

    # The web process sees the new limit once its cached grant lapses (CODEQ_TOKEN_CACHE_SECONDS).
    wait_until(lambda: statuses(12) == {200, 429}, "the lowered rate limit never applied")
    metrics = httpx.get(f"{platform.base}/metrics", timeout=15).text
    for slug in slugs:
        assert f'codeq_tasks_completed_total{{command="ocr",tenant="{slug}"}} 1.0' in metrics

    # A wake-up reaches a worker subscription of a tenant on the last node.
    woken = slugs[-1]
    receiver = Receiver()
    try:
        subscribed = platform.call("POST", "/workers/subscriptions", bearers[woken]["worker"],
                                   {"callbackUrl": receiver.url(), "eventTypes": ["mail"],
                                    "minIntervalSeconds": 1})  # fmt: skip
        assert subscribed.status_code in (200, 201), subscribed.text
        platform.call("POST", "/tasks", bearers[woken]["producer"], {"command": "mail", "payload": {}})
        (wake,) = receiver.wait_for(1, timeout=20)[:1]
        assert orjson.loads(wake.body)["eventType"] == "mail"
    finally:
        receiver.stop()

    # The dashboard's websocket relays a live snapshot of a change made while it is open.
    watched = slugs[1]
    user = UserFactory(username=f"viewer-{store.name}")
    MembershipFactory(tenant=tenants[watched], user=user, role="viewer")
    browser = Client()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"

    def enqueue_report() -> None:
        platform.call("POST", "/tasks", bearers[watched]["producer"], {"command": "report", "payload": {}})

    snapshot = asyncio.run(_first_snapshot(
        f"ws://127.0.0.1:{platform.port}/dashboard/ws/t/{watched}/stats/", cookie, platform.base,
        lambda s: any(c["command"] == "report" and c["ready"] == 1 for c in s["commands"]), enqueue_report, 20,
    ))  # fmt: skip
    assert snapshot["tenant"] == watched

    # A schedule fires one task per slot with two schedulers; the leader is killed, the standby takes
    # over (it sweeps an expired lease), and a replacement joins.
    ticking = slugs[0]
    limited.requests_per_second = 1000
    limited.save()
    wait_until(lambda: statuses(6) == {200}, "the raised rate limit never applied")

    def scheduled() -> bool:  # six 200s can still straddle two seconds of the old limit: a 429 changes nothing
        put = platform.call("PUT", "/admin/schedules/ticker", bearers[ticking]["admin"],
                            {"cron": "@every 1s", "command": "tick", "payload": {}})  # fmt: skip
        assert put.status_code in (200, 201, 429), put.text
        return put.status_code != 429

    wait_until(scheduled, "the schedule was never taken")
    standby = platform.start_scheduler()
    time.sleep(2)
    leader.send_signal(signal.SIGKILL)
    leader.wait(timeout=10)
    leased = platform.call("POST", "/tasks", bearers[woken]["producer"], {"command": "scan", "payload": {}})
    claim = platform.call("POST", "/tasks/claim", bearers[woken]["worker"], {"commands": ["scan"], "leaseSeconds": 1})
    assert claim.status_code == 200, claim.text
    engine = platform.engine
    engine.register_tenant(woken, 1)

    def swept() -> bool:
        task = engine.get_task(woken, leased.json()["id"])
        return task.state != State.LEASED and task.error == "LEASE_EXPIRED"

    wait_until(swept, "the standby sweeps the expired lease")
    replacement = platform.start_scheduler()
    time.sleep(3)
    assert standby.poll() is None and replacement.poll() is None

    ticks = engine.ready(ticking, "tick", limit=200).tasks
    slots = [datetime.fromisoformat(t.idempotency_key.split(":", 2)[2]) for t in ticks]
    assert len(ticks) >= 5 and len(set(slots)) == len(ticks), "one task per slot"
