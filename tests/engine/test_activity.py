"""The activity index the engine's faces write and the scheduler's jobs read (engine/activity.py)."""

from __future__ import annotations

from codeq_platform.engine import NewTask, activity
from codeq_platform.engine.store import connect as connect_store


def _index(kv_url: str, prefix: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    client = connect_store(kv_url)
    due_key, touch_key, active_key = activity.keys(prefix)
    try:
        due = {m.decode(): int(s) for m, s in client.zrange(due_key, 0, -1, withscores=True)}
        touch = {k.decode(): int(v) for k, v in client.hgetall(touch_key).items()}
        active = {m.decode(): int(s) for m, s in client.zrange(active_key, 0, -1, withscores=True)}
    finally:
        client.close()
    return due, touch, active


def test_leases_and_delayed_tasks_put_their_shard_in_the_index_at_its_earliest_time(engine, kv_url, prefix, clock):
    now = activity.wall_ms(engine.core)
    engine.enqueue("acme", NewTask("scan", {}, delay_ms=60_000))
    engine.enqueue("acme", NewTask("scan", {}))
    engine.claim("acme", "w", ["scan"], lease_ms=30_000)

    due, touch, active = _index(kv_url, prefix)

    assert due == {"acme/0": now + 30_000}
    assert touch == {"acme/0": now}
    assert active == {"acme": now}


def test_a_later_lease_within_a_second_writes_nothing_an_earlier_one_lowers_the_score(engine, kv_url, prefix, clock):
    engine.enqueue_batch("acme", [NewTask("scan", {}) for _ in range(3)])
    now = activity.wall_ms(engine.core)
    engine.claim("acme", "w", ["scan"], lease_ms=30_000)
    clock.advance(0.5)
    engine.claim("acme", "w", ["scan"], lease_ms=30_000)
    assert _index(kv_url, prefix)[0] == {"acme/0": now + 30_000}

    engine.claim("acme", "w", ["scan"], lease_ms=5_000)

    assert _index(kv_url, prefix)[0] == {"acme/0": now + 500 + 5_000}


def test_the_sweep_raises_or_drops_a_score_only_if_nobody_wrote_since_it_read(engine, kv_url, prefix, clock):
    engine.enqueue("acme", NewTask("scan", {}))
    engine.claim("acme", "w", ["scan"], lease_ms=30_000)
    read_ms = activity.wall_ms(engine.core) + 2_000
    ((_, _, touch),) = engine.run(activity.due_shards(prefix, read_ms + 60_000))

    engine.run(activity.settle(prefix, read_ms, [("acme", 0, touch, read_ms + 90_000)]))
    assert _index(kv_url, prefix)[0] == {"acme/0": read_ms + 28_000}  # written 2 s before: only lowered

    later = read_ms + activity.MARGIN_MS
    engine.run(activity.settle(prefix, later, [("acme", 0, "0", later + 90_000)]))
    assert _index(kv_url, prefix)[0] == {"acme/0": read_ms + 28_000}  # a touch it did not read: only lowered

    engine.run(activity.settle(prefix, later, [("acme", 0, touch, later + 90_000)]))
    assert _index(kv_url, prefix)[0] == {"acme/0": later + 90_000}

    engine.run(activity.settle(prefix, later, [("acme", 0, touch, None)]))
    assert _index(kv_url, prefix)[:2] == ({}, {})


def test_reconcile_restores_a_lost_index_entry(engine, kv_url, prefix):
    engine.enqueue("acme", NewTask("scan", {}, delay_ms=60_000))
    client = connect_store(kv_url)
    client.delete(activity.keys(prefix)[0])
    client.close()

    assert engine.run(activity.reconcile(engine.core, [("acme", 0)])) == 1

    assert _index(kv_url, prefix)[0] == {"acme/0": activity.wall_ms(engine.core) + 60_000}
