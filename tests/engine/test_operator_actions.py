"""An operator's actions on live tasks: release a lease, run a delayed task now, cancel many, list finished."""

from __future__ import annotations

import pytest

from codeq_platform.engine import NewTask, State
from codeq_platform.errors import InvalidInput, NotInProgress

T = "acme"


def test_a_released_lease_is_ready_now_with_its_attempt_refunded(engine):
    task = engine.enqueue(T, NewTask("x", {}, max_attempts=3)).task
    engine.claim(T, "w1", ["x"], lease_ms=60_000)

    assert engine.release(T, "x", [task.id], "ada").count == 1

    released = engine.get_task(T, task.id)
    assert released.state is State.READY and released.attempts == 0 and released.worker_id == ""
    assert released.events[-1].kind == "released" and released.events[-1].detail == "ada took it from w1"
    assert engine.leases(T).tasks == []
    stats = engine.queue_stats(T, "x")
    assert (stats.ready, stats.in_flight) == (1, 0)
    assert engine.claim(T, "w2", ["x"])[0].id == task.id


def test_the_old_holder_cannot_report_after_a_release(engine):
    task = engine.enqueue(T, NewTask("x", {})).task
    engine.claim(T, "w1", ["x"])
    engine.release(T, "x", [task.id], "ada")

    with pytest.raises(NotInProgress):
        engine.complete(T, task.id, "w1", {"ok": True})


def test_release_leaves_tasks_not_leased_and_other_commands_alone(engine):
    ready = engine.enqueue(T, NewTask("x", {})).task
    other = engine.enqueue(T, NewTask("y", {})).task
    engine.claim(T, "w1", ["y"])

    assert engine.release(T, "x", [ready.id, other.id, "missing"], "ada").count == 0
    assert engine.get_task(T, other.id).state is State.LEASED
    assert engine.get_task(T, ready.id).state is State.READY


def test_run_now_makes_a_scheduled_task_ready_before_its_time(engine):
    task = engine.enqueue(T, NewTask("x", {}, delay_ms=3_600_000)).task

    assert engine.run_now(T, "x", [task.id], "olivia").count == 1

    now = engine.get_task(T, task.id)
    assert now.state is State.READY and now.due_ms == 0
    assert now.events[-1].kind == "run_now" and now.events[-1].detail == "olivia"
    assert engine.delayed(T).tasks == []
    stats = engine.queue_stats(T, "x")
    assert (stats.ready, stats.delayed) == (1, 0)
    assert engine.claim(T, "w", ["x"])[0].id == task.id


def test_run_now_retries_a_task_backing_off_without_waiting(engine):
    task = engine.enqueue(T, NewTask("x", {}, max_attempts=5)).task
    engine.claim(T, "w", ["x"])
    backing_off = engine.nack(T, task.id, "w", delay_ms=600_000, reason="503 from upstream").task
    assert backing_off.state is State.DELAYED

    assert engine.run_now(T, "x", [task.id], "olivia").count == 1

    claimed = engine.claim(T, "w", ["x"])[0]
    assert (claimed.id, claimed.attempts) == (task.id, 2)


def test_run_now_leaves_tasks_not_delayed_alone(engine):
    ready = engine.enqueue(T, NewTask("x", {})).task
    leased = engine.enqueue(T, NewTask("x", {})).task
    engine.claim(T, "w", ["x"], count=1)

    assert engine.run_now(T, "x", [ready.id, leased.id], "olivia").count == 0
    assert engine.queue_stats(T, "x").ready == 1


def test_cancel_many_cancels_pending_tasks_and_skips_leased_ones(engine):
    first = engine.enqueue(T, NewTask("x", {})).task
    later = engine.enqueue(T, NewTask("x", {}, delay_ms=60_000)).task
    leased = engine.enqueue(T, NewTask("y", {})).task
    engine.claim(T, "w", ["y"])

    assert engine.cancel_many(T, [first.id, later.id, leased.id, "missing"]).count == 2

    assert engine.get_task(T, first.id).state is State.CANCELLED
    assert engine.get_task(T, later.id).state is State.CANCELLED
    assert engine.get_task(T, leased.id).state is State.LEASED


def test_finished_lists_one_commands_finished_tasks_latest_first(engine, clock):
    ids = []
    for i in range(3):
        engine.enqueue(T, NewTask("x", {"i": i}))
        engine.enqueue(T, NewTask("y", {"i": i}))
        for cmd in ("x", "y"):
            task = engine.claim(T, "w", [cmd])[0]
            engine.complete(T, task.id, "w", {})
            if cmd == "x":
                ids.append(task.id)
        clock.advance(1)

    seen, cursor = [], None
    for _ in range(6):  # a page may be short: other commands' entries share the set
        page = engine.finished(T, limit=2, command="x", cursor=cursor)
        seen += page.tasks
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [t.id for t in seen] == list(reversed(ids))
    assert all(t.state is State.COMPLETED and t.command == "x" for t in seen)


def test_operator_actions_refuse_more_than_a_batch(engine):
    with pytest.raises(InvalidInput):
        engine.release(T, "x", [f"t{i}" for i in range(1001)], "ada")


def test_operator_actions_reach_tasks_on_every_shard(engine):
    engine.register_tenant("spread", 4)
    tasks = [engine.enqueue("spread", NewTask("x", {"i": i}, delay_ms=60_000)).task for i in range(12)]
    assert len({engine.core.ks("spread").shard_of(t.id) for t in tasks}) > 1

    assert engine.run_now("spread", "x", [t.id for t in tasks], "olivia").count == 12
    claimed = engine.claim("spread", "w", ["x"], count=12)
    assert len(claimed) == 12
    assert engine.release("spread", "x", [t.id for t in claimed], "ada").count == 12
    assert engine.queue_stats("spread", "x").ready == 12
