import pytest

from codeq_platform.engine import NewTask, State
from codeq_platform.errors import InvalidInput, NotFound, PayloadTooLarge, TaskInProgress, TaskNotInDlq

T = "acme"


def kill(engine, clock, command="x", n=1, error="boom"):
    engine.enqueue_batch(T, [NewTask(command, {"i": i}, max_attempts=1) for i in range(n)])
    dead = []
    for _ in range(n):
        task = engine.claim(T, "w", [command])[0]
        dead.append(engine.nack(T, task.id, "w", reason=error).task)
        clock.advance(1)
    return dead


def test_dlq_lists_newest_death_first_page_by_page(engine, clock):
    dead = kill(engine, clock, n=5)
    first = engine.dlq(T, "x", limit=2)
    second = engine.dlq(T, "x", limit=2, cursor=first.next_cursor)
    third = engine.dlq(T, "x", limit=2, cursor=second.next_cursor)
    seen = [t.id for t in first.tasks + second.tasks + third.tasks]
    assert seen == [t.id for t in reversed(dead)]
    assert third.next_cursor is None


def test_dlq_time_window_lists_and_counts_only_deaths_inside_it(engine, clock):
    dead = kill(engine, clock, n=5)
    since, until = dead[1].finished_ms, dead[3].finished_ms
    first = engine.dlq(T, "x", limit=2, since_ms=since, until_ms=until)
    second = engine.dlq(T, "x", limit=2, cursor=first.next_cursor, since_ms=since, until_ms=until)
    assert [t.id for t in first.tasks + second.tasks] == [dead[3].id, dead[2].id, dead[1].id]
    assert second.next_cursor is None
    assert engine.dlq_count(T, "x", since_ms=since, until_ms=until) == 3
    assert engine.dlq_count(T, "x", since_ms=since) == 4
    assert engine.dlq_count(T, "x") == 5


def test_replay_moves_a_dead_task_back_with_attempts_reset(engine, clock):
    (dead,) = kill(engine, clock)
    task = engine.replay(T, dead.id)
    assert task.state is State.READY and task.attempts == 0 and task.error == ""
    assert engine.queue_stats(T, "x").dlq == 0
    assert engine.claim(T, "w2", ["x"])[0].id == dead.id
    assert [e.kind for e in engine.get_task(T, dead.id).events][-2:] == ["replayed", "claimed"]


def test_replay_of_a_task_not_in_the_dlq_is_refused(engine, clock):
    task = engine.enqueue(T, NewTask("x", {})).task
    with pytest.raises(TaskNotInDlq):
        engine.replay(T, task.id)
    with pytest.raises(NotFound):
        engine.replay(T, "missing")


def test_a_failed_result_is_not_in_the_dlq(engine):
    engine.enqueue(T, NewTask("x", {}))
    task = engine.claim(T, "w", ["x"])[0]
    engine.fail(T, task.id, "w", "nope")
    with pytest.raises(TaskNotInDlq):
        engine.replay(T, task.id)


def test_replay_selected_tasks(engine, clock):
    dead = kill(engine, clock, n=3)
    moved = engine.replay_many(T, "x", [dead[0].id, dead[2].id])
    assert moved.count == 2
    assert [t.id for t in engine.dlq(T, "x").tasks] == [dead[1].id]


def test_replay_all_works_through_the_dlq_in_bounded_steps(engine, clock):
    kill(engine, clock, n=5)
    first = engine.replay_all(T, "x", limit=3)
    assert (first.count, first.remaining) == (3, True)
    second = engine.replay_all(T, "x", limit=3)
    assert (second.count, second.remaining) == (2, False)
    assert engine.queue_stats(T, "x").ready == 5


def test_delete_selected_and_purge(engine, clock):
    dead = kill(engine, clock, n=4)
    assert engine.delete_many(T, "x", [dead[0].id]).count == 1
    with pytest.raises(NotFound):
        engine.get_task(T, dead[0].id)
    purged = engine.purge_dlq(T, "x", limit=2)
    assert (purged.count, purged.remaining) == (2, True)
    assert engine.purge_dlq(T, "x").count == 1
    assert engine.queue_stats(T, "x").dlq == 0


def test_delete_refuses_a_leased_task(engine):
    engine.enqueue(T, NewTask("x", {}))
    task = engine.claim(T, "w", ["x"])[0]
    with pytest.raises(TaskInProgress):
        engine.delete(T, task.id)
    assert engine.get_task(T, task.id).state is State.LEASED


def test_deleting_a_ready_task_keeps_depth_right(engine):
    task = engine.enqueue(T, NewTask("x", {})).task
    engine.enqueue(T, NewTask("x", {}))
    engine.delete(T, task.id)
    assert engine.queue_stats(T, "x").ready == 1
    assert len(engine.claim(T, "w", ["x"], count=5)) == 1
    assert engine.queue_stats(T, "x").ready == 0


def test_retention_trims_finished_and_dead_tasks_by_age(engine, clock):
    kill(engine, clock, n=2)
    done = engine.enqueue(T, NewTask("x", {}, idempotency_key="k1")).task
    engine.claim(T, "w", ["x"])
    engine.complete(T, done.id, "w", {})
    clock.advance(10)
    assert engine.trim(T, finished_older_than_ms=10_000).count == 0  # finished exactly 10 s ago
    moved = engine.trim(T, finished_older_than_ms=9_999, dead_older_than_ms=9_999)
    assert moved.count == 3
    with pytest.raises(NotFound):
        engine.get_task(T, done.id)
    assert engine.queue_stats(T, "x").dlq == 0
    assert engine.enqueue(T, NewTask("x", {}, idempotency_key="k1")).created


def test_dlq_limit_bounds(engine):
    with pytest.raises(InvalidInput):
        engine.replay_all(T, "x", limit=0)
    with pytest.raises(InvalidInput):
        engine.dlq(T, "x", limit=501)


def test_replay_edited_runs_the_task_again_with_the_new_payload(engine, clock):
    (dead,) = kill(engine, clock)
    replayed = engine.replay_edited(T, dead.id, {"fixed": True})
    assert replayed.state is State.READY
    assert replayed.events[-1].detail == "payload edited"
    claimed = engine.claim(T, "w", ["x"])[0]
    assert (claimed.id, claimed.payload) == (dead.id, '{"fixed":true}')
    assert engine.dlq_count(T, "x") == 0


def test_replay_edited_keeps_the_payload_of_a_task_that_left_the_dlq(engine, clock):
    (dead,) = kill(engine, clock)
    engine.replay(T, dead.id)
    with pytest.raises(TaskNotInDlq):
        engine.replay_edited(T, dead.id, {"fixed": True})
    assert engine.get_task(T, dead.id).payload == '{"i":0}'


def test_replay_edited_checks_the_payload_as_an_enqueue_does(engine, clock):
    (dead,) = kill(engine, clock)
    with pytest.raises(PayloadTooLarge):
        engine.replay_edited(T, dead.id, {"big": "x" * 200}, payload_limit=100)
    with pytest.raises(InvalidInput):
        engine.replay_edited(T, dead.id, None)
    assert engine.get_task(T, dead.id).state is State.DEAD
