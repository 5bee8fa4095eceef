import threading

import pytest

from codeq_platform.engine import Engine, NewTask, State, connect
from codeq_platform.errors import InvalidInput

T = "acme"


def test_claim_returns_highest_priority_first_and_fifo_within_a_priority(engine):
    ids = {}
    for name, prio in [("low1", 1), ("high1", 9), ("low2", 1), ("mid", 5), ("high2", 9)]:
        ids[engine.enqueue(T, NewTask("x", name, priority=prio)).task.id] = name
    order = [ids[t.id] for t in engine.claim(T, "w", ["x"], count=10)]
    assert order == ["high1", "high2", "mid", "low1", "low2"]


def test_claim_takes_from_any_of_the_given_commands_only(engine):
    engine.enqueue(T, NewTask("a", {}))
    engine.enqueue(T, NewTask("b", {}, priority=3))
    engine.enqueue(T, NewTask("c", {}, priority=9))
    got = engine.claim(T, "w", ["a", "b"], count=5)
    assert [t.command for t in got] == ["b", "a"]
    assert engine.queue_stats(T, "c").ready == 1


def test_claim_leases_the_task_to_the_worker_and_charges_an_attempt(engine, clock):
    engine.enqueue(T, NewTask("x", {}))
    task = engine.claim(T, "worker-7", ["x"], lease_ms=30_000)[0]
    assert task.state is State.LEASED and task.status == "IN_PROGRESS"
    assert task.worker_id == "worker-7" and task.attempts == 1
    assert task.lease_until_ms == int(clock.now * 1000) + 30_000


def test_claim_with_nothing_ready_returns_nothing(engine):
    assert engine.claim(T, "w", ["x"]) == []


def test_claim_returns_at_most_count(engine):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(5)])
    assert len(engine.claim(T, "w", ["x"], count=3)) == 3
    assert engine.queue_stats(T, "x").ready == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"lease_ms": 0}, "leaseSeconds"), ({"lease_ms": 43_200_001}, "leaseSeconds"), ({"count": 0}, "count")],
)
def test_claim_limits_are_enforced(engine, kwargs, field):
    engine.enqueue(T, NewTask("x", {}))
    with pytest.raises(InvalidInput) as err:
        engine.claim(T, "w", ["x"], **kwargs)
    assert err.value.field == field
    assert engine.queue_stats(T, "x").ready == 1


def test_longest_lease_is_accepted(engine):
    engine.enqueue(T, NewTask("x", {}))
    assert len(engine.claim(T, "w", ["x"], lease_ms=43_200_000)) == 1


def test_concurrent_claims_of_one_task_have_exactly_one_winner(engine, kv_url):
    engine.enqueue(T, NewTask("x", {}))
    wins = []
    barrier = threading.Barrier(8)

    def contender(n):
        client = connect(kv_url)
        other = Engine(client, engine.config)
        barrier.wait()
        wins.extend(other.claim(T, f"w{n}", ["x"]))
        other.close()
        client.close()

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_tenants_never_see_each_others_tasks(engine):
    engine.enqueue("other", NewTask("x", {}))
    assert engine.claim(T, "w", ["x"]) == []
    assert engine.queue_stats(T, "x").ready == 0


def test_a_claim_naming_no_command_reaches_every_command_with_ready_work_in_turn(engine):
    commands = [f"c{n:03d}" for n in range(150)]  # more than one claim can name
    for command in commands:
        engine.enqueue(T, NewTask(command, {}))
        engine.enqueue(T, NewTask(command, {}))

    first_round = [engine.claim(T, "w", None)[0].command for _ in commands]
    second_round = [t.command for t in engine.claim(T, "w", None, count=10)]

    assert sorted(first_round) == commands  # each command once before any command twice
    assert second_round == first_round[:10]  # then again in the same turn


def test_a_command_drained_and_refilled_takes_its_turn_again(engine, clock):
    engine.enqueue(T, NewTask("a", {}))
    assert [t.command for t in engine.claim(T, "w", None, count=5)] == ["a"]
    assert engine.claim(T, "w", None) == []

    clock.advance(1)
    engine.enqueue(T, NewTask("b", {}))
    engine.enqueue(T, NewTask("a", {}, delay_ms=5_000))
    assert [t.command for t in engine.claim(T, "w", None, count=5)] == ["b"]
    clock.advance(6)
    engine.sweep(T)

    assert [t.command for t in engine.claim(T, "w", None, count=5)] == ["a"]


def test_retention_forgets_a_command_with_nothing_left_and_keeps_the_others(engine, clock):
    done = engine.enqueue(T, NewTask("old", {})).task
    engine.claim(T, "w", ["old"])
    engine.complete(T, done.id, "w", {})
    engine.enqueue(T, NewTask("busy", {}))
    engine.enqueue(T, NewTask("dead", {}, max_attempts=1))
    [dying] = engine.claim(T, "w", ["dead"])
    engine.nack(T, dying.id, "w", reason="boom")
    clock.advance(3600)
    engine.enqueue(T, NewTask("recent", {}))
    engine.claim(T, "w", ["recent"])

    engine.trim(T, forget_older_than_ms=1000)

    assert engine.commands(T) == ["busy", "dead", "recent"]
    assert engine.queue_stats(T, "old").created == 0
    engine.enqueue(T, NewTask("old", {}))
    assert engine.commands(T) == ["busy", "dead", "old", "recent"]
    assert engine.queue_stats(T, "old").created == 1
