import pytest

from codeq_platform.engine import NewTask, State
from codeq_platform.errors import NotInProgress

T = "acme"


def test_an_expired_lease_returns_the_task_lazily_at_the_next_claim(engine, clock):
    engine.enqueue(T, NewTask("x", {}))
    first = engine.claim(T, "w1", ["x"], lease_ms=5_000)[0]
    clock.advance(6)
    got = engine.claim(T, "w2", ["x"])  # expiry is a charged nack: back after a backoff (maybe 0)
    task = engine.get_task(T, first.id)
    assert task.error == "LEASE_EXPIRED" and "expired" in [e.kind for e in task.events]
    if not got:
        assert task.state is State.DELAYED
        clock.advance(10)
        got = engine.claim(T, "w2", ["x"])
    assert got[0].id == first.id and got[0].attempts == 2 and got[0].worker_id == "w2"


def test_sweep_expires_leases_and_promotes_due_tasks_of_idle_queues(engine, clock):
    engine.enqueue(T, NewTask("x", {}))
    leased = engine.claim(T, "w1", ["x"], lease_ms=1_000)[0]
    delayed = engine.enqueue(T, NewTask("y", {}, delay_ms=2_000)).task
    clock.advance(2)
    report = engine.sweep(T)
    assert (report.expired, report.promoted) == (1, 1)
    assert engine.get_task(T, delayed.id).state is State.READY
    assert engine.get_task(T, leased.id).state in (State.DELAYED, State.READY)
    assert engine.queue_stats(T, "x").in_flight == 0


def test_a_lease_expiring_on_the_last_attempt_dead_letters_the_task(engine, clock):
    engine.enqueue(T, NewTask("x", {}, max_attempts=1))
    leased = engine.claim(T, "w1", ["x"], lease_ms=1_000)[0]
    clock.advance(2)
    engine.sweep(T)
    task = engine.get_task(T, leased.id)
    assert task.state is State.DEAD and task.error == "LEASE_EXPIRED"
    assert engine.dlq(T, "x").tasks[0].id == leased.id


def test_the_old_holder_has_no_say_after_expiry(engine, clock):
    engine.enqueue(T, NewTask("x", {}))
    leased = engine.claim(T, "w1", ["x"], lease_ms=1_000)[0]
    clock.advance(2)
    engine.sweep(T)
    with pytest.raises(NotInProgress):
        engine.complete(T, leased.id, "w1", {})


def test_sweep_works_in_bounded_batches(engine, clock, config):
    engine.enqueue_batch(T, [NewTask("x", {}, delay_ms=1_000) for _ in range(config.sweep_batch + 20)])
    clock.advance(2)
    assert engine.sweep(T).promoted == config.sweep_batch
    assert engine.sweep(T).promoted == 20
    assert engine.queue_stats(T, "x").ready == config.sweep_batch + 20
