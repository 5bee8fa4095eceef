"""Pause/resume of a command and its cap on tasks in flight (issue #14)."""

import threading

import pytest

from codeq_platform.engine import Engine, EngineConfig, NewTask, connect
from codeq_platform.errors import InvalidInput

T = "acme"


def test_a_paused_command_is_skipped_by_named_unnamed_and_next_claims(engine):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(3)])
    engine.enqueue(T, NewTask("y", {}))
    [held] = engine.claim(T, "w", ["x"])

    settings = engine.pause_queue(T, "X")

    assert settings.paused and settings.command == "x"
    assert engine.claim(T, "w", ["x"]) == []
    assert [t.command for t in engine.claim(T, "w", None, count=5)] == ["y"]
    assert engine.claim(T, "w", None) == []
    assert engine.complete(T, held.id, "w", {}, next_commands=["x"]).claimed == []
    assert engine.queue_stats(T, "x").ready == 2


def test_a_paused_command_still_takes_tasks_and_serves_them_once_resumed(engine):
    engine.pause_queue(T, "x")
    engine.enqueue(T, NewTask("x", {}, priority=4))
    engine.enqueue(T, NewTask("x", {}))
    assert engine.claim(T, "w", None) == []

    assert engine.resume_queue(T, "x").paused is False

    assert [t.priority for t in engine.claim(T, "w", None, count=5)] == [4, 0]


def test_a_pause_lives_in_the_store(engine, kv_url):
    engine.pause_queue(T, "x")
    engine.enqueue(T, NewTask("x", {}))
    client = connect(kv_url)
    other = Engine(client, engine.config)
    try:
        assert other.claim(T, "w", ["x"]) == []
        stats = other.queue_stats(T, "x")
        assert stats.paused and stats.ready == 1
    finally:
        other.close()
        client.close()


def test_a_paused_command_without_tasks_is_listed(engine):
    engine.pause_queue(T, "quiet")
    assert engine.commands(T) == ["quiet"]
    assert engine.queue_stats(T, "quiet").paused


def test_claims_never_take_more_than_the_cap(engine):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(10)])
    assert engine.limit_queue(T, "x", 3).max_in_flight == 3

    first = engine.claim(T, "w", ["x"], count=10)
    assert len(first) == 3
    assert engine.claim(T, "w", ["x"]) == []
    stats = engine.queue_stats(T, "x")
    assert (stats.in_flight, stats.ready, stats.max_in_flight) == (3, 7, 3)

    settled = engine.complete(T, first[0].id, "w", {}, next_commands=["x"], next_count=5)
    assert len(settled.claimed) == 1
    engine.nack(T, first[1].id, "w", delay_ms=60_000)
    engine.abandon(T, first[2].id, "w")
    assert len(engine.claim(T, "w", ["x"], count=10)) == 2
    assert engine.queue_stats(T, "x").in_flight == 3


def test_a_cap_frees_room_when_leases_expire(engine, clock):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(3)])
    engine.limit_queue(T, "x", 1)
    engine.claim(T, "w", ["x"], lease_ms=1000)
    assert engine.claim(T, "w", ["x"]) == []
    clock.advance(5)
    engine.sweep(T)
    assert engine.queue_stats(T, "x").in_flight == 0
    assert len(engine.claim(T, "w", ["x"], count=5)) == 1


def test_lifting_the_cap_lets_claims_take_everything(engine):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(4)])
    engine.limit_queue(T, "x", 1)
    engine.claim(T, "w", ["x"])
    assert engine.limit_queue(T, "x", None).max_in_flight is None
    assert len(engine.claim(T, "w", ["x"], count=10)) == 3


def test_a_command_at_its_cap_does_not_block_an_unnamed_claim(engine):
    engine.enqueue_batch(T, [NewTask("a", {}) for _ in range(3)] + [NewTask("b", {}) for _ in range(3)])
    engine.limit_queue(T, "a", 1)
    got = engine.claim(T, "w", None, count=10)
    assert sorted(t.command for t in got) == ["a", "b", "b", "b"]


@pytest.mark.parametrize("cap", [0, -1, 1_000_001, True, "3"])
def test_a_cap_out_of_range_is_refused(engine, cap):
    with pytest.raises(InvalidInput) as err:
        engine.limit_queue(T, "x", cap)
    assert err.value.field == "maxInFlight"


def test_a_cap_is_split_over_the_shards_and_never_exceeded(kv_url, prefix):
    client = connect(kv_url)
    sharded = Engine(client, EngineConfig(prefix=prefix, shards=4))
    try:
        sharded.enqueue_batch(T, [NewTask("x", {}) for _ in range(200)])
        with pytest.raises(InvalidInput):
            sharded.limit_queue(T, "x", 3)  # fewer than the shards
        assert sharded.limit_queue(T, "x", 6).max_in_flight == 6
        assert len(sharded.claim(T, "w", ["x"], count=100)) <= 6
        assert sharded.queue_stats(T, "x").max_in_flight == 6
    finally:
        sharded.close()
        client.close()


def test_concurrent_claimers_never_exceed_the_cap(engine, kv_url):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(300)])
    engine.limit_queue(T, "x", 5)
    held = set()
    peak = 0
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(n):
        nonlocal peak
        client = connect(kv_url)
        mine = Engine(client, engine.config)
        barrier.wait()
        try:
            for _ in range(40):
                got = mine.claim(T, f"w{n}", ["x"], count=3)
                with lock:
                    held.update(t.id for t in got)
                    peak = max(peak, len(held))
                for task in got:
                    with lock:
                        held.discard(task.id)
                    mine.complete(T, task.id, f"w{n}", {})
        finally:
            mine.close()
            client.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 0 < peak <= 5
    assert engine.queue_stats(T, "x").in_flight == 0
