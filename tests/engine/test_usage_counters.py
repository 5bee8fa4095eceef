"""The scripts count each day's usage (UTC) in the shard's counters hash, beside the commands' counters."""

from codeq_platform.engine import NewTask
from codeq_platform.engine.keys import DAY_MS, keyspace, usage_field
from codeq_platform.engine.store import connect

T = "acme"


def usage(kv_url, prefix, day):
    client = connect(kv_url, decode_responses=True)
    stats = client.hgetall(keyspace(prefix, T, 1).key(0, "stats"))
    client.close()
    names = ("created", "completed", "failed", "dead", "bytes")
    return {name: int(stats.get(usage_field(day, name), 0)) for name in names}


def test_each_outcome_and_the_payload_bytes_count_on_the_day_they_happen(engine, clock, kv_url, prefix):
    day = int(clock.now * 1000) // DAY_MS
    first = engine.enqueue(T, NewTask("resize", {"n": 1})).task
    engine.enqueue(T, NewTask("Resize", {"n": 22}))
    engine.enqueue(T, NewTask("mail", "x", max_attempts=1))
    engine.enqueue(T, NewTask("resize", {"n": 1}, idempotency_key="k"))
    engine.enqueue(T, NewTask("resize", {"n": 9}, idempotency_key="k"))  # answered by the first: not counted
    done, failed = engine.claim(T, "w", ["resize"], count=2)
    engine.complete(T, done.id, "w", {"ok": True})
    engine.fail(T, failed.id, "w", "bad")
    clock.advance(86400)
    dead = engine.claim(T, "w", ["mail"])[0]
    engine.nack(T, dead.id, "w", reason="gave up")
    assert first.id == done.id
    assert usage(kv_url, prefix, day) == {"created": 4, "completed": 1, "failed": 1, "dead": 0,
                                          "bytes": len('{"n":1}') * 2 + len('{"n":22}') + len('"x"')}  # fmt: skip
    assert usage(kv_url, prefix, day + 1) == {"created": 0, "completed": 0, "failed": 0, "dead": 1, "bytes": 0}


def test_a_replayed_task_is_not_counted_twice(engine, kv_url, prefix, clock):
    day = int(clock.now * 1000) // DAY_MS
    engine.enqueue(T, NewTask("mail", "x", max_attempts=1))
    task = engine.claim(T, "w", ["mail"])[0]
    engine.nack(T, task.id, "w", reason="gave up")
    engine.replay(T, task.id)
    assert usage(kv_url, prefix, day)["dead"] == 1
    assert usage(kv_url, prefix, day)["created"] == 1
