"""The engine over TLS: a redis-server with only its TLS port open and client certificates required.

The CA, the server's and the client's certificates are made for the module in its tmp dir. Both faces
(the sync link and the asyncio link's own connection) must verify the server and present the client
certificate; without the CA or without a client certificate the store is unavailable, never reached in
clear text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, NewTask, State, connect, connect_async
from codeq_platform.engine.store import TLS
from codeq_platform.errors import StoreUnavailable
from tests.engine._redis_servers import TlsRedisProcess, make_tls_files


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedisProcess]:
    directory = tmp_path_factory.mktemp("tls")
    server = TlsRedisProcess(directory, make_tls_files(directory / "certs"))
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture
def tls(tls_server: TlsRedisProcess) -> TLS:
    files = tls_server.files
    return TLS(ca_file=str(files.ca), cert_file=str(files.client_cert), key_file=str(files.client_key))


@pytest.fixture
def tls_config() -> EngineConfig:
    return EngineConfig(prefix=f"cqtls{uuid.uuid4().hex[:8]}")


def test_the_sync_engine_runs_over_tls(tls_server, tls, tls_config):
    client = connect(tls_server.url, tls)
    engine = Engine(client, tls_config)
    try:
        created = engine.enqueue("acme", NewTask("scan", {"page": 1}))
        (claimed,) = engine.claim("acme", "w1", ["scan"])
        settled = engine.complete("acme", claimed.id, "w1", {"ok": True})
        assert claimed.id == created.task.id and settled.task.state == State.COMPLETED
    finally:
        engine.close()
        client.close()


async def test_the_async_engine_runs_over_tls(tls_server, tls, tls_config):
    client = connect_async(tls_server.url, tls)
    engine = AsyncEngine(client, tls_config)
    try:
        batch = await engine.enqueue_batch("acme", [NewTask("scan", {"page": i}) for i in range(20)])
        claimed = await engine.claim("acme", "w1", ["scan"], count=20)
        assert {t.id for t in claimed} == {r.task.id for r in batch}
        settled = [await engine.complete("acme", t.id, "w1", {"page": t.payload}) for t in claimed]
        assert all(s.task.state == State.COMPLETED for s in settled)
    finally:
        await engine.aclose()
        await client.aclose()


@pytest.mark.parametrize("missing", ["ca", "client certificate"])
async def test_without_the_ca_or_a_client_certificate_the_store_is_unavailable(tls_server, tls, tls_config, missing):
    # Without the CA the system's CAs are asked, and they do not know the server's.
    partial = {"ca": TLS(cert_file=tls.cert_file, key_file=tls.key_file),
               "client certificate": TLS(ca_file=tls.ca_file)}[missing]  # fmt: skip
    sync_client, async_client = connect(tls_server.url, partial), connect_async(tls_server.url, partial)
    engine, aengine = Engine(sync_client, tls_config), AsyncEngine(async_client, tls_config)
    try:
        with pytest.raises(StoreUnavailable):
            engine.enqueue("acme", NewTask("scan", {}))
        with pytest.raises(StoreUnavailable):
            await aengine.enqueue("acme", NewTask("scan", {}))
    finally:
        engine.close()
        sync_client.close()
        await aengine.aclose()
        await async_client.aclose()
