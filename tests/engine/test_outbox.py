from codeq_platform.engine import NewTask, Report

T = "acme"
HOOK = "https://hooks.example.com/done"


def kinds(engine, tenant=T):
    return [(e.kind, e.task_id) for e in engine.outbox([tenant])]


def claimed(engine, command="x", **spec):
    engine.enqueue(T, NewTask(command, {"n": 1}, **spec))
    return engine.claim(T, "w", [command])[0]


def test_a_task_without_webhook_leaves_no_event_while_nobody_watches(engine):
    task = claimed(engine)
    engine.complete(T, task.id, "w", {"ok": True})
    assert engine.outbox([T]) == []


def test_every_terminal_transition_of_a_task_with_a_webhook_is_recorded(engine, clock):
    done = claimed(engine, webhook=HOOK)
    engine.complete(T, done.id, "w", {"ok": True})
    failed = claimed(engine, webhook=HOOK)
    engine.fail(T, failed.id, "w", "bad input")
    dead = claimed(engine, webhook=HOOK, max_attempts=1)
    engine.nack(T, dead.id, "w", reason="gave up")
    cancelled = engine.enqueue(T, NewTask("x", {"n": 1}, webhook=HOOK)).task
    engine.cancel(T, cancelled.id)
    assert kinds(engine) == [("completed", done.id), ("failed", failed.id), ("dead", dead.id),
                             ("failed", cancelled.id)]  # fmt: skip
    assert {e.at_ms for e in engine.outbox([T])} == {int(clock.now * 1000)}


def test_a_retry_is_not_a_terminal_event(engine):
    task = claimed(engine, webhook=HOOK, max_attempts=3)
    engine.nack(T, task.id, "w", delay_ms=0)
    assert engine.outbox([T]) == []


def test_lease_expiry_in_claim_and_in_the_sweep_dead_letters_with_an_event(engine, clock):
    first = claimed(engine, "a", webhook=HOOK, max_attempts=1)
    second = claimed(engine, "b", webhook=HOOK, max_attempts=1)
    clock.advance(400)
    engine.claim(T, "w2", ["a"])
    engine.sweep(T)
    assert sorted(kinds(engine)) == sorted([("dead", first.id), ("dead", second.id)])


def test_batch_results_and_complete_and_claim_next_are_recorded(engine):
    engine.enqueue_batch(T, [NewTask("x", {"n": i}, webhook=HOOK) for i in range(3)])
    a, b, c = engine.claim(T, "w", ["x"], count=3)
    engine.settle_batch(T, "w", [Report(a.id, completed=True, result={}), Report(b.id, completed=False, error="e")])
    engine.enqueue(T, NewTask("x", {"n": 9}, webhook=HOOK))
    nxt = engine.complete(T, c.id, "w", {}, next_commands=["x"]).claimed[0]
    assert kinds(engine) == [("completed", a.id), ("failed", b.id), ("completed", c.id)]
    assert nxt.state == "leased"


def test_a_repeated_result_records_no_second_event(engine):
    task = claimed(engine, webhook=HOOK)
    engine.complete(T, task.id, "w", {})
    engine.complete(T, task.id, "w", {})
    assert kinds(engine) == [("completed", task.id)]


def test_watched_event_kinds_are_recorded_for_every_task_and_others_are_not(engine):
    engine.watch_events(T, ["completed", "dead"])
    done = claimed(engine)
    engine.complete(T, done.id, "w", {})
    failed = claimed(engine)
    engine.fail(T, failed.id, "w", "no")
    dead = claimed(engine, max_attempts=1)
    engine.nack(T, dead.id, "w")
    assert kinds(engine) == [("completed", done.id), ("dead", dead.id)]
    engine.watch_events(T, [])
    again = claimed(engine)
    engine.complete(T, again.id, "w", {})
    assert len(engine.outbox([T])) == 2


def test_events_stay_until_acknowledged_and_ids_are_stable(engine):
    tasks = [claimed(engine, webhook=HOOK) for _ in range(3)]
    for task in tasks:
        engine.complete(T, task.id, "w", {})
    first_read = engine.outbox([T], limit=2)
    assert [e.id for e in engine.outbox([T], limit=2)] == [e.id for e in first_read]
    assert engine.outbox_ack(T, 0, first_read) == 2
    assert kinds(engine) == [("completed", tasks[2].id)]


def test_an_acknowledgement_by_a_second_reader_of_the_same_events_removes_nothing_more(engine):
    tasks = [claimed(engine, webhook=HOOK) for _ in range(4)]
    for task in tasks:
        engine.complete(T, task.id, "w", {})
    mine, theirs = engine.outbox([T], limit=2), engine.outbox([T], limit=2)
    assert engine.outbox_ack(T, 0, mine) == 2
    assert engine.outbox_ack(T, 0, theirs) == 0
    assert [task_id for _, task_id in kinds(engine)] == [tasks[2].id, tasks[3].id]


def test_outboxes_of_several_tenants_and_shards_are_read_together(engine):
    engine.register_tenant("multi", 4)
    ids = []
    for i in range(40):
        engine.enqueue("multi", NewTask("x", {"i": i}, webhook=HOOK))
    for task in engine.claim("multi", "w", ["x"], count=40):
        engine.complete("multi", task.id, "w", {})
        ids.append(task.id)
    other = claimed(engine, webhook=HOOK)
    engine.complete(T, other.id, "w", {})
    events = engine.outbox(["multi", T])
    assert sorted(e.task_id for e in events if e.tenant == "multi") == sorted(ids)
    assert {e.shard for e in events if e.tenant == "multi"} == {0, 1, 2, 3}
    assert [e.task_id for e in events if e.tenant == T] == [other.id]
