import pytest

from codeq_platform.engine import NewTask
from codeq_platform.engine.model import MAX_EVENTS
from codeq_platform.errors import InvalidInput, NotFound, TaskFinished, TaskInProgress

T = "acme"


def test_queue_stats_count_every_place_a_task_can_be(engine, clock):
    engine.enqueue_batch(T, [NewTask("x", {}, priority=p) for p in (0, 0, 3, 9)])
    engine.enqueue(T, NewTask("x", {}, delay_ms=60_000))
    engine.enqueue(T, NewTask("x", {}, max_attempts=1, priority=5))
    dying = engine.claim(T, "w", ["x"], count=2)  # prio 9 and prio 5
    engine.nack(T, dying[1].id, "w")
    engine.complete(T, dying[0].id, "w", {})
    engine.claim(T, "w", ["x"])  # prio 3, stays in flight
    stats = engine.queue_stats(T, "x")
    assert stats.ready_by_priority == [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert (stats.delayed, stats.in_flight, stats.dlq) == (1, 1, 1)
    assert (stats.created, stats.completed, stats.failed, stats.dead) == (6, 1, 0, 1)


def test_oldest_ready_age_is_known_without_a_scan(engine, clock):
    start = int(clock.now * 1000)
    engine.enqueue(T, NewTask("x", {}))
    clock.advance(30)
    engine.enqueue(T, NewTask("x", {}, priority=9))
    assert engine.queue_stats(T, "x").oldest_ready_ms == start
    assert engine.queue_stats(T, "empty").oldest_ready_ms is None


def test_commands_lists_every_command_of_the_tenant(engine):
    engine.enqueue(T, NewTask("B.cmd", {}))
    engine.enqueue(T, NewTask("a.cmd", {}))
    engine.enqueue("other", NewTask("c.cmd", {}))
    assert engine.commands(T) == ["a.cmd", "b.cmd"]


def test_active_leases_page_in_expiry_order(engine):
    engine.enqueue_batch(T, [NewTask("x", {}) for _ in range(3)])
    engine.claim(T, "w1", ["x"], lease_ms=30_000)
    engine.claim(T, "w2", ["x"], lease_ms=10_000)
    engine.claim(T, "w3", ["x"], lease_ms=20_000)
    first = engine.leases(T, limit=2)
    second = engine.leases(T, limit=2, cursor=first.next_cursor)
    assert [t.worker_id for t in first.tasks + second.tasks] == ["w2", "w3", "w1"]
    assert second.next_cursor is None


def test_ready_and_delayed_pages(engine):
    ids = [engine.enqueue(T, NewTask("x", {}, priority=p)).task.id for p in (1, 8)]
    later = engine.enqueue(T, NewTask("x", {}, delay_ms=5_000)).task
    assert [t.id for t in engine.ready(T, "x").tasks] == [ids[1], ids[0]]
    assert [t.id for t in engine.delayed(T, command="x").tasks] == [later.id]
    with pytest.raises(InvalidInput):
        engine.ready(T, "x", cursor="garbage")


def test_event_history_tells_the_story_and_stays_bounded(engine):
    task = engine.enqueue(T, NewTask("x", {})).task
    engine.claim(T, "w", ["x"])
    for _ in range(30):
        engine.heartbeat(T, task.id, "w")
    engine.complete(T, task.id, "w", {})
    events = engine.get_task(T, task.id).events
    assert len(events) == MAX_EVENTS
    assert events[-1].kind == "completed" and events[-2].kind == "heartbeat"


def test_cancel_withdraws_a_pending_task(engine):
    task = engine.enqueue(T, NewTask("x", {})).task
    cancelled = engine.cancel(T, task.id)
    assert cancelled.status == "FAILED" and cancelled.error == "CANCELLED"
    assert engine.claim(T, "w", ["x"]) == []
    assert engine.queue_stats(T, "x").ready == 0


def test_cancel_withdraws_a_delayed_task(engine, clock):
    task = engine.enqueue(T, NewTask("x", {}, delay_ms=1_000)).task
    engine.cancel(T, task.id)
    clock.advance(5)
    engine.sweep(T)
    assert engine.claim(T, "w", ["x"]) == []
    assert engine.queue_stats(T, "x").delayed == 0


def test_cancel_of_a_leased_or_finished_task_is_refused(engine):
    engine.enqueue(T, NewTask("x", {}))
    task = engine.claim(T, "w", ["x"])[0]
    with pytest.raises(TaskInProgress):
        engine.cancel(T, task.id)
    engine.complete(T, task.id, "w", {})
    with pytest.raises(TaskFinished):
        engine.cancel(T, task.id)
    with pytest.raises(NotFound):
        engine.cancel(T, "missing")


def test_result_is_none_until_reported(engine):
    task = engine.enqueue(T, NewTask("x", {})).task
    assert engine.get_result(T, task.id)[1] is None
    with pytest.raises(NotFound):
        engine.get_result(T, "missing")


def test_another_tenants_task_is_not_found(engine):
    task = engine.enqueue("other", NewTask("x", {})).task
    with pytest.raises(NotFound):
        engine.get_task(T, task.id)
    with pytest.raises(NotFound):
        engine.cancel(T, task.id)


def test_pages_reach_every_task_when_many_share_one_due_time(engine):
    engine.enqueue_batch(T, [NewTask("x", {"i": i}, delay_ms=60_000) for i in range(300)])
    seen, cursor = [], None
    while True:
        page = engine.delayed(T, limit=100, cursor=cursor, command="x")
        seen += [t.id for t in page.tasks]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 300


def test_many_results_are_read_in_one_call(engine):
    engine.register_tenant("acme", 4)
    ids = {engine.enqueue("acme", NewTask("ocr", {"page": n})).task.id for n in (1, 2)}
    [held] = engine.claim("acme", "w1", ["ocr"])  # either one: claim order is FIFO per shard
    engine.complete("acme", held.id, "w1", {"text": "hi"})
    [waiting] = ids - {held.id}

    found = engine.get_results("acme", [held.id, waiting, "no-such-task"])

    assert set(found) == ids
    task, result = found[held.id]
    assert task.state.value == "completed" and result.result == '{"text":"hi"}'
    assert found[waiting][0].state.value == "ready" and found[waiting][1] is None
    assert engine.get_results("globex", [held.id]) == {}
