"""The KV store unreachable: task endpoints answer 503 with a JSON body, and work again once it is back
(the same engine reconnecting after a restart is tested in tests/engine/test_store_outage.py)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from asgiref.sync import sync_to_async

from codeq_platform.base import kv
from tests.api.calls import API_DB
from tests.api.conftest import bearer
from tests.engine._redis_servers import RedisProcess, free_port, require_binary

pytestmark = API_DB


async def test_unreachable_store_answers_503_json_then_work_resumes(http, settings, producer_bearer):
    ok = await http.post("/v1/codeq/tasks", json={"command": "x", "payload": {}}, headers=bearer(producer_bearer))
    assert ok.status_code == 202
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    for method, path, body in [
        ("POST", "/v1/codeq/tasks", {"command": "x", "payload": {}}),
        ("GET", f"/v1/codeq/tasks/{ok.json()['id']}", None),
    ]:
        r = await http.request(method, path, json=body, headers=bearer(producer_bearer))
        assert r.status_code == 503
        assert r.json()["code"] == "store_unavailable" and r.headers["Retry-After"] == "1"
    settings.CODEQ_KV_URL = real_url
    kv.reset()
    again = await http.get(f"/v1/codeq/tasks/{ok.json()['id']}", headers=bearer(producer_bearer))
    assert again.status_code == 200 and again.json()["status"] == "PENDING"


async def test_metrics_say_the_store_is_down_instead_of_failing(http, settings, producer_bearer):
    await http.post("/v1/codeq/tasks", json={"command": "x", "payload": {}}, headers=bearer(producer_bearer))
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    down = await http.get("/metrics")
    assert down.status_code == 200
    assert "codeq_store_up 0.0" in down.text and "codeq_database_up 1.0" in down.text
    assert "codeq_recorder_up" in down.text and "codeq_queue_ready{" not in down.text
    settings.CODEQ_KV_URL = real_url
    kv.reset()
    up = await http.get("/metrics")
    assert "codeq_store_up 1.0" in up.text and 'codeq_queue_ready{command="x",tenant="acme"} 1.0' in up.text


# -- a store that is loading its data set ------------------------------------------------------------------


@pytest.fixture
def loading_store(tmp_path) -> Iterator[str]:
    """The URL of a real redis-server that answers LOADING: it reads a data set of 300,000 keys, slowed
    down to 100 µs a key (about 30 s; the tests take a few)."""
    executable = require_binary("redis-server")
    seed = RedisProcess(tmp_path, extra=["--enable-debug-command", "local"]).start()
    with seed.client() as client:
        client.execute_command("DEBUG", "POPULATE", 300_000)
        client.save()
    seed.shutdown()
    port = free_port()
    # Slow (100 µs a key) but answering often (every KiB read): LOADING replies, not timeouts.
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path), "--save", "",
                 "--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024",
                 "--logfile", str(tmp_path / "loading.log")]  # fmt: skip
    process = subprocess.Popen([executable, *arguments], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with redis.Redis(port=port, socket_timeout=2) as probe:
                    probe.ping()
                raise AssertionError("the store finished loading before the test")
            except redis.BusyLoadingError:
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the store did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait(timeout=10)


STORE_CALLS = [
    ("POST", "/v1/codeq/tasks", {"command": "x", "payload": {}}, "producer"),
    ("GET", "/v1/codeq/tasks/t-1", None, "producer"),
    ("POST", "/v1/codeq/tasks/claim", {"commands": ["x"]}, "worker"),
    ("POST", "/v1/codeq/tasks/t-1/heartbeat", {}, "worker"),
    ("GET", "/v1/codeq/admin/queues", None, "admin"),
    ("GET", "/v1/codeq/admin/tokens", None, "admin"),
    ("POST", "/v1/codeq/workers/subscriptions", {"callbackUrl": "https://hooks.example/w"}, "worker"),
]


def assert_store_unavailable(r) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "1"
    assert r.json() == {"error": "the store is unavailable", "code": "store_unavailable", "retryAfterSeconds": 1}


async def test_a_loading_store_answers_503_on_every_path_with_the_token_cached(
    http, settings, tenant, producer_bearer, worker_bearer, admin_bearer, loading_store
):
    """The rate limiter, the engine and the services all meet LOADING; the tokens are in the process's
    cache (as on a busy server), so only the store is asked."""
    tenant.requests_per_second = 1000
    await sync_to_async(tenant.save)()
    tokens = {"producer": producer_bearer, "worker": worker_bearer, "admin": admin_bearer}
    for role, token in tokens.items():
        assert (await http.get("/v1/codeq/tasks/t-1", headers=bearer(token))).status_code in (404, 403), role
    settings.CODEQ_KV_URL = loading_store
    kv.reset()
    for method, path, body, role in STORE_CALLS:
        assert_store_unavailable(await http.request(method, path, json=body, headers=bearer(tokens[role])))


async def test_a_loading_token_cache_answers_503(http, settings, producer_bearer, loading_store):
    caches = settings.CACHES
    settings.CACHES = {"default": {**caches["default"], "LOCATION": loading_store}}
    settings.CODEQ_KV_URL = loading_store
    kv.reset()
    try:
        assert_store_unavailable(await http.get("/v1/codeq/tasks/t-1", headers=bearer(producer_bearer)))
    finally:
        settings.CACHES = caches  # the suite's teardown empties the cache it names


async def test_the_503_says_nothing_of_the_store_and_the_log_has_the_cause(http, settings, producer_bearer, caplog):
    assert (await http.get("/v1/codeq/tasks/t-1", headers=bearer(producer_bearer))).status_code == 404
    port = free_port()  # nothing listens there
    settings.CODEQ_KV_URL = f"redis://127.0.0.1:{port}/0"
    kv.reset()

    r = await http.post("/v1/codeq/tasks", json={"command": "x", "payload": {}}, headers=bearer(producer_bearer))

    assert_store_unavailable(r)
    assert str(port) not in r.text and "Errno" not in r.text
    assert any(str(port) in record.getMessage() for record in caplog.records)
