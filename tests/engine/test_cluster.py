"""The engine on a real three-node Redis Cluster: every script touches one hash slot, and a tenant's
shards really are spread over several nodes.

The module starts its own cluster (``redis-server --cluster-enabled yes`` x3 + ``redis-cli --cluster
create``) on free local ports and kills it afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from codeq_platform.engine import AsyncEngine, Engine, EngineConfig, NewTask, State, connect, connect_async
from codeq_platform.engine.keys import keyspace
from tests.engine._redis_servers import RedisProcess, start_redis_cluster

pytestmark = pytest.mark.cluster

SHARDS = 4
TENANTS = ("acme", "globex", "initech")


class Cluster:
    def __init__(self, nodes: list[RedisProcess]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def node_clients(self) -> list[redis.Redis]:
        return [node.client() for node in self.nodes]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    nodes: list[RedisProcess] = []
    try:
        start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"), nodes)
        yield Cluster(nodes)
    finally:
        for node in nodes:
            node.kill()


@pytest.fixture
def cluster_config() -> EngineConfig:
    return EngineConfig(prefix=f"cqc{uuid.uuid4().hex[:10]}", shards=SHARDS)


@pytest.fixture
def cengine(cluster: Cluster, cluster_config: EngineConfig, clock) -> Iterator[Engine]:
    client = connect(cluster.url)
    assert isinstance(client, redis.RedisCluster)
    yield Engine(client, cluster_config, clock)
    client.close()


def _ids_on_every_shard(prefix: str, tenant: str, per_shard: int, label: str) -> list[str]:
    """Task ids chosen so that each of the tenant's shards gets ``per_shard`` of them."""
    ks = keyspace(prefix, tenant, SHARDS)
    picked: dict[int, list[str]] = {s: [] for s in range(SHARDS)}
    i = 0
    while any(len(v) < per_shard for v in picked.values()):
        tid = f"{label}-{i}"
        bucket = picked[ks.shard_of(tid)]
        if len(bucket) < per_shard:
            bucket.append(tid)
        i += 1
    return [tid for s in range(SHARDS) for tid in picked[s]]


def test_batch_spanning_every_shard_is_claimed_highest_priority_first_within_each_shard(cengine, cluster_config):
    ks = keyspace(cluster_config.prefix, "acme", SHARDS)
    ids = _ids_on_every_shard(cluster_config.prefix, "acme", 6, "job")
    specs = [NewTask("render", {"n": i}, priority=i % 3 * 4, task_id=tid) for i, tid in enumerate(ids)]

    results = cengine.enqueue_batch("acme", specs)

    assert all(r.created for r in results)
    assert {ks.shard_of(r.task.id) for r in results} == set(range(SHARDS))
    claimed = cengine.claim("acme", "w1", ["render"], lease_ms=60_000, count=len(ids))
    assert sorted(t.id for t in claimed) == sorted(ids)
    assert all(t.state == State.LEASED and t.worker_id == "w1" for t in claimed)
    enqueue_pos = {tid: i for i, tid in enumerate(ids)}
    for shard in range(SHARDS):
        in_shard = [t for t in claimed if ks.shard_of(t.id) == shard]
        # highest priority first; FIFO (enqueue order) among equal priorities
        assert [(t.priority, enqueue_pos[t.id]) for t in in_shard] == sorted(
            ((t.priority, enqueue_pos[t.id]) for t in in_shard), key=lambda p: (-p[0], p[1])
        )
    assert cengine.claim("acme", "w2", ["render"]) == []


def test_single_enqueue_claim_complete_and_stats_per_tenant(cengine):
    done = {}
    for n, tenant in enumerate(TENANTS):
        for i in range(n + 2):
            cengine.enqueue(tenant, NewTask("ocr", {"page": i}, priority=i % 10))
        done[tenant] = n + 2

    for tenant, total in done.items():
        claimed = cengine.claim(tenant, f"w-{tenant}", ["ocr"], count=50)
        assert len(claimed) == total
        assert {t.tenant for t in claimed} == {tenant}
        for task in claimed:
            settled = cengine.complete(tenant, task.id, f"w-{tenant}", {"text": task.payload})
            assert settled.task.state == State.COMPLETED
            _, result = cengine.get_result(tenant, task.id)
            assert result is not None and result.status == "COMPLETED"

    for tenant, total in done.items():
        stats = cengine.queue_stats(tenant, "ocr")
        assert (stats.created, stats.completed, stats.ready, stats.in_flight) == (total, total, 0, 0)
        assert cengine.commands(tenant) == ["ocr"]


def test_complete_claims_next_task_from_the_same_shard(cengine):
    first = cengine.enqueue("globex", NewTask("mail", {"n": 1}, task_id="mail-a")).task
    cengine.enqueue_batch("globex", [NewTask("mail", {"n": i}, task_id=f"mail-{i}") for i in range(12)])
    ks = keyspace(cengine.config.prefix, "globex", SHARDS)
    leased = cengine.claim("globex", "w", ["mail"], count=13)
    assert first.id in {t.id for t in leased}
    # give back all but the first, so complete can chain into one of them
    for task in leased:
        if task.id != first.id:
            cengine.abandon("globex", task.id, "w")

    settled = cengine.complete("globex", first.id, "w", {"ok": True}, next_commands=["mail"])

    assert settled.task.state == State.COMPLETED
    assert len(settled.claimed) == 1
    assert ks.shard_of(settled.claimed[0].id) == ks.shard_of(first.id)


def test_nack_to_dlq_then_replay_makes_task_claimable_again(cengine):
    for tenant in ("acme", "initech"):
        tid = cengine.enqueue(tenant, NewTask("charge", {"amount": 5}, max_attempts=1)).task.id
        (task,) = cengine.claim(tenant, "w1", ["charge"])

        nacked = cengine.nack(tenant, task.id, "w1", reason="card declined")

        assert nacked.dead and nacked.task.state == State.DEAD
        assert cengine.get_task(tenant, tid).error == "card declined"
        stats = cengine.queue_stats(tenant, "charge")
        assert (stats.dlq, stats.dead, stats.ready) == (1, 1, 0)

        replayed = cengine.replay(tenant, tid)
        assert replayed.state == State.READY and replayed.attempts == 0
        assert cengine.queue_stats(tenant, "charge").dlq == 0
        (again,) = cengine.claim(tenant, "w2", ["charge"])
        assert again.id == tid and again.worker_id == "w2"


def test_replay_all_and_purge_span_every_shard(cengine, cluster_config):
    ids = _ids_on_every_shard(cluster_config.prefix, "initech", 2, "dead")
    cengine.enqueue_batch("initech", [NewTask("sync", {}, max_attempts=1, task_id=tid) for tid in ids])
    for task in cengine.claim("initech", "w", ["sync"], count=len(ids)):
        assert cengine.nack("initech", task.id, "w").dead
    assert cengine.queue_stats("initech", "sync").dlq == len(ids)

    moved = cengine.replay_all("initech", "sync", limit=100)

    assert moved.count == len(ids) and not moved.remaining
    assert cengine.queue_stats("initech", "sync").ready == len(ids)
    for task in cengine.claim("initech", "w", ["sync"], count=len(ids)):
        cengine.nack("initech", task.id, "w")
    assert cengine.purge_dlq("initech", "sync").count == len(ids)
    assert cengine.queue_stats("initech", "sync").dlq == 0


def test_sweep_returns_expired_leases_to_the_queue(cengine, clock):
    ids = [cengine.enqueue("acme", NewTask("scan", {"i": i})).task.id for i in range(8)]
    cengine.claim("acme", "crashed-worker", ["scan"], lease_ms=5_000, count=8)
    assert cengine.queue_stats("acme", "scan").in_flight == 8
    assert cengine.sweep("acme").expired == 0

    clock.advance(6)
    report = cengine.sweep("acme")

    assert report.expired == 8
    assert cengine.queue_stats("acme", "scan").in_flight == 0
    assert all(cengine.get_task("acme", tid).state != State.LEASED for tid in ids)
    clock.advance(3600)  # past any retry backoff
    cengine.sweep("acme")
    again = cengine.claim("acme", "w2", ["scan"], count=20)
    assert sorted(t.id for t in again) == sorted(ids)
    assert all(t.attempts == 2 for t in again)
    assert cengine.queue_stats("acme", "scan").in_flight == 8


def test_lease_delayed_and_dlq_listings_page_over_every_shard(cengine, cluster_config):
    """leases(), delayed() and dlq() merge a score-ordered set over the shards (ZRANGEBYSCORE ...
    WITHSCORES). redis-py's cluster client answers that command with [member, score] pairs, not the
    flat list the single-node client returns; the listings must work on both."""
    ids = _ids_on_every_shard(cluster_config.prefix, "acme", 2, "list")
    cengine.enqueue_batch("acme", [NewTask("probe", {}, max_attempts=1, task_id=tid) for tid in ids])
    later = [cengine.enqueue("acme", NewTask("probe", {}, delay_ms=60_000 + i)).task.id for i in range(3)]
    leased = cengine.claim("acme", "w", ["probe"], lease_ms=30_000, count=len(ids))
    for task in leased[:4]:
        cengine.nack("acme", task.id, "w")

    assert sorted(t.id for t in cengine.leases("acme").tasks) == sorted(t.id for t in leased[4:])
    assert [t.id for t in cengine.delayed("acme").tasks] == later
    assert sorted(t.id for t in cengine.dlq("acme", "probe").tasks) == sorted(t.id for t in leased[:4])


def test_tenant_keys_are_spread_over_several_cluster_nodes_one_slot_per_shard(cengine, cluster, cluster_config):
    prefix = cluster_config.prefix
    ids = _ids_on_every_shard(prefix, "acme", 3, "spread")
    cengine.enqueue_batch("acme", [NewTask("render", {}, task_id=tid) for tid in ids])
    cengine.claim("acme", "w", ["render"], count=2)

    holders: dict[str, int] = {}  # key -> port of the node that stores it
    for node in cluster.nodes:
        with node.client() as c:
            for key in c.scan_iter(match=f"{prefix}:*", count=1000):
                assert key.decode() not in holders
                holders[key.decode()] = node.port

    ks = keyspace(prefix, "acme", SHARDS)
    with cluster.nodes[0].client() as c:
        slot_of = {k: c.execute_command("CLUSTER", "KEYSLOT", k) for k in holders}
    for shard in range(SHARDS):
        tag = f"{{t:acme:{shard}}}"
        shard_keys = [k for k in holders if tag in k]
        assert ks.key(shard, "tasks") in shard_keys
        assert ks.ready_key(shard, "render", 0) in shard_keys
        # every key a script of this shard touches: one slot, hence one node
        assert len({slot_of[k] for k in shard_keys}) == 1
        assert len({holders[k] for k in shard_keys}) == 1
    assert len(set(holders.values())) >= 2, f"all of the tenant's keys sit on one node: {holders}"


def test_outboxes_of_every_shard_are_read_together_and_acknowledged_per_slot(cengine, cluster_config):
    ids = _ids_on_every_shard(cluster_config.prefix, "acme", 2, "hook")
    cengine.enqueue_batch("acme", [NewTask("render", {}, task_id=tid, webhook="https://h.example/x") for tid in ids])
    for task in cengine.claim("acme", "w", ["render"], count=len(ids)):
        cengine.complete("acme", task.id, "w", {})
    events = cengine.outbox(["acme"])
    assert sorted(e.task_id for e in events) == sorted(ids)
    for shard in range(SHARDS):
        mine = [e for e in events if e.shard == shard]
        assert cengine.outbox_ack("acme", shard, mine) == len(mine) > 0
    assert cengine.outbox(["acme"]) == []


async def test_async_engine_round_trip_on_cluster(cluster, cluster_config, clock):
    client = connect_async(cluster.url)
    assert isinstance(client, redis.asyncio.RedisCluster)
    aengine = AsyncEngine(client, cluster_config, clock)
    try:
        created = await aengine.enqueue("globex", NewTask("transcode", {"file": "a.mp4"}, priority=7))
        batch = await aengine.enqueue_batch("globex", [NewTask("transcode", {"file": f"{i}.mp4"}) for i in range(8)])
        claimed = await aengine.claim("globex", "aw", ["transcode"], count=20)
        assert {t.id for t in claimed} == {created.task.id} | {r.task.id for r in batch}
        for task in claimed:
            settled = await aengine.complete("globex", task.id, "aw", {"ok": task.id})
            assert settled.task.state == State.COMPLETED
        _, result = await aengine.get_result("globex", created.task.id)
        assert result.result == f'{{"ok":"{created.task.id}"}}'
        stats = await aengine.queue_stats("globex", "transcode")
        assert (stats.created, stats.completed, stats.ready) == (9, 9, 0)
    finally:
        await client.aclose()
