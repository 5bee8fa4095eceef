"""The console's search reads: a bounded scan over task records of every state, and the direct
lookup of an idempotency key."""

import pytest

from codeq_platform.engine import Engine, EngineConfig, NewTask, State, connect
from codeq_platform.errors import InvalidInput, NotFound

T = "acme"


def scan_all(engine, tenant=T, count=3, id_prefix=""):
    seen, cursor, steps = {}, None, 0
    while True:
        page = engine.scan_tasks(tenant, cursor=cursor, count=count, id_prefix=id_prefix)
        seen.update((t.id, t) for t in page.tasks)
        steps += 1
        cursor = page.next_cursor
        if cursor is None:
            return seen, steps
        assert steps < 500


def test_scan_reaches_tasks_of_every_state_and_no_other_tenant(engine, clock):
    engine.enqueue_batch(T, [NewTask("x", {"i": i}, max_attempts=1) for i in range(6)])
    engine.enqueue(T, NewTask("x", {}, delay_ms=60_000))
    leased, dying = engine.claim(T, "w", ["x"], count=2)
    engine.nack(T, dying.id, "w", reason="boom")
    engine.enqueue("other", NewTask("x", {}))
    seen, _ = scan_all(engine)
    assert len(seen) == 7
    assert {t.state for t in seen.values()} == {State.READY, State.DELAYED, State.LEASED, State.DEAD}
    assert seen[leased.id].worker_id == "w"
    assert seen[dying.id].error == "boom"


def test_scan_by_id_prefix_returns_only_ids_that_start_with_it(engine):
    for task_id in ("order-1", "order-2", "invoice-1"):
        engine.enqueue(T, NewTask("x", {}, task_id=task_id))
    seen, _ = scan_all(engine, id_prefix="order-")
    assert sorted(seen) == ["order-1", "order-2"]
    with pytest.raises(InvalidInput):
        engine.scan_tasks(T, id_prefix="ord*")


def test_scan_walks_every_shard_of_a_sharded_tenant(kv_url, prefix, clock):
    client = connect(kv_url)
    sharded = Engine(client, EngineConfig(prefix=prefix), clock)
    sharded.register_tenant(T, 4)
    ids = {sharded.enqueue(T, NewTask("x", {"i": i})).task.id for i in range(40)}
    seen, steps = scan_all(sharded, count=5)
    assert set(seen) == ids
    assert steps >= 4
    with pytest.raises(InvalidInput):
        sharded.scan_tasks(T, cursor="9:0")
    sharded.close()
    client.close()


def test_idempotency_key_finds_its_task_directly(engine):
    task = engine.enqueue(T, NewTask("x", {}, idempotency_key="order-42")).task
    assert engine.task_by_idempotency_key(T, "order-42").id == task.id
    with pytest.raises(NotFound):
        engine.task_by_idempotency_key(T, "order-43")
    with pytest.raises(NotFound):
        engine.task_by_idempotency_key("other", "order-42")
