import pytest

from codeq_platform.engine import NewTask, State
from codeq_platform.errors import InvalidInput, NotFound, NotInProgress, NotOwner

T = "acme"


@pytest.fixture
def leased(engine):
    engine.enqueue(T, NewTask("x", {"n": 1}, max_attempts=3))
    return engine.claim(T, "w1", ["x"], lease_ms=10_000)[0]


def test_heartbeat_extends_the_lease(engine, clock, leased):
    clock.advance(8)
    task = engine.heartbeat(T, leased.id, "w1", lease_ms=60_000)
    assert task.lease_until_ms == int(clock.now * 1000) + 60_000
    assert engine.leases(T).tasks[0].lease_until_ms == task.lease_until_ms


def test_only_the_lease_holder_may_act_on_the_task(engine, leased):
    for call in (
        lambda: engine.heartbeat(T, leased.id, "w2"),
        lambda: engine.abandon(T, leased.id, "w2"),
        lambda: engine.nack(T, leased.id, "w2"),
        lambda: engine.complete(T, leased.id, "w2", {}),
        lambda: engine.fail(T, leased.id, "w2", "boom"),
        lambda: engine.progress(T, leased.id, "w2", {"pct": 5}),
    ):
        with pytest.raises(NotOwner):
            call()
    assert engine.get_task(T, leased.id) == leased


def test_operations_on_a_task_nobody_holds_report_no_holder(engine):
    task = engine.enqueue(T, NewTask("x", {})).task
    with pytest.raises(NotInProgress):
        engine.heartbeat(T, task.id, "w1")
    with pytest.raises(NotInProgress):
        engine.complete(T, task.id, "w1", {})


def test_operations_on_an_unknown_task_report_not_found(engine):
    for call in (
        lambda: engine.heartbeat(T, "nope", "w"),
        lambda: engine.nack(T, "nope", "w"),
        lambda: engine.abandon(T, "nope", "w"),
        lambda: engine.complete(T, "nope", "w", {}),
        lambda: engine.get_task(T, "nope"),
        lambda: engine.get_task(T, "../../etc"),
    ):
        with pytest.raises(NotFound):
            call()


def test_abandon_requeues_at_the_tail_now_without_charging_the_attempt(engine, leased):
    other = engine.enqueue(T, NewTask("x", {"n": 2})).task
    task = engine.abandon(T, leased.id, "w1")
    assert task.state is State.READY and task.attempts == 0 and task.worker_id == ""
    assert [t.id for t in engine.claim(T, "w2", ["x"], count=2)] == [other.id, leased.id]


def test_nack_with_a_delay_retries_after_that_delay(engine, clock, leased):
    out = engine.nack(T, leased.id, "w1", delay_ms=30_000, reason="rate limited")
    assert not out.dead and out.delay_ms == 30_000
    assert out.task.state is State.DELAYED and out.task.error == "rate limited"
    clock.advance(29)
    assert engine.claim(T, "w1", ["x"]) == []
    clock.advance(1)
    assert engine.claim(T, "w1", ["x"])[0].attempts == 2


def test_nack_with_zero_delay_retries_now(engine, leased):
    assert engine.nack(T, leased.id, "w1", delay_ms=0).task.state is State.READY
    assert len(engine.claim(T, "w1", ["x"])) == 1


def test_nack_without_delay_backs_off_with_full_jitter_within_the_window(engine, config, leased):
    out = engine.nack(T, leased.id, "w1")
    window = min(config.backoff_base_ms * 2**1, config.backoff_cap_ms)
    assert 0 <= out.delay_ms <= window


def test_nack_on_the_last_attempt_dead_letters_with_the_reason(engine, clock, leased):
    engine.nack(T, leased.id, "w1", delay_ms=0)
    engine.claim(T, "w1", ["x"])
    engine.nack(T, leased.id, "w1", delay_ms=0)
    engine.claim(T, "w1", ["x"])
    out = engine.nack(T, leased.id, "w1", reason="bad input")
    assert out.dead and out.task.state is State.DEAD and out.task.status == "FAILED"
    assert out.task.error == "bad input" and out.task.attempts == 3
    assert engine.queue_stats(T, "x").dlq == 1


def test_nack_without_reason_dead_letters_as_max_attempts(engine):
    engine.enqueue(T, NewTask("y", {}, max_attempts=1))
    task = engine.claim(T, "w", ["y"])[0]
    assert engine.nack(T, task.id, "w").task.error == "MAX_ATTEMPTS"


def test_nack_delay_must_not_be_negative(engine, leased):
    with pytest.raises(InvalidInput):
        engine.nack(T, leased.id, "w1", delay_ms=-1)
    assert engine.get_task(T, leased.id).state is State.LEASED


def test_complete_stores_the_result(engine, leased):
    settled = engine.complete(T, leased.id, "w1", {"url": "s3://out"}, artifacts=[{"name": "a"}])
    assert settled.task.status == "COMPLETED" and not settled.repeated
    task, result = engine.get_result(T, leased.id)
    assert task.status == "COMPLETED"
    assert result.status == "COMPLETED" and result.result == '{"url":"s3://out"}'
    assert result.artifacts == '[{"name":"a"}]'


def test_a_repeated_complete_by_the_same_worker_answers_like_the_first(engine, leased):
    engine.complete(T, leased.id, "w1", {"v": 1})
    again = engine.complete(T, leased.id, "w1", {"v": 1})
    assert again.repeated and again.task.status == "COMPLETED"
    assert engine.queue_stats(T, "x").completed == 1


def test_a_failed_result_is_final_and_never_dead_lettered(engine, clock, leased):
    settled = engine.fail(T, leased.id, "w1", "corrupt image")
    assert settled.task.status == "FAILED" and settled.task.state is State.FAILED
    clock.advance(3600)
    engine.sweep(T)
    stats = engine.queue_stats(T, "x")
    assert (stats.ready, stats.delayed, stats.dlq, stats.failed) == (0, 0, 0, 1)
    assert engine.get_result(T, leased.id)[1].error == "corrupt image"


def test_complete_can_claim_the_next_task_in_the_same_call(engine, leased):
    nxt = engine.enqueue(T, NewTask("x", {"n": 2})).task
    settled = engine.complete(T, leased.id, "w1", {}, next_commands=["x"])
    assert [t.id for t in settled.claimed] == [nxt.id]
    assert settled.claimed[0].worker_id == "w1"


def test_progress_is_recorded_and_kept_across_retries(engine, leased):
    engine.progress(T, leased.id, "w1", {"pct": 40})
    engine.nack(T, leased.id, "w1", delay_ms=0)
    assert engine.get_task(T, leased.id).progress == '{"pct":40}'


def test_a_stale_holder_cannot_act_after_another_worker_reclaimed(engine, clock, leased):
    clock.advance(11)
    engine.sweep(T)
    clock.advance(60)
    engine.sweep(T)
    again = engine.claim(T, "w2", ["x"])[0]
    assert again.id == leased.id and again.attempts == 2
    with pytest.raises(NotOwner):
        engine.complete(T, leased.id, "w1", {})
    assert engine.complete(T, leased.id, "w2", {}).task.status == "COMPLETED"


def test_a_late_heartbeat_before_any_sweep_keeps_the_lease(engine, clock, leased):
    clock.advance(11)
    assert engine.heartbeat(T, leased.id, "w1").state is State.LEASED


def test_a_batch_of_results_settles_each_task_or_says_why_not(engine):
    from codeq_platform.engine import Report
    from codeq_platform.errors import NotOwner

    engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(3)])
    a, b, c = engine.claim(T, "w1", ["x"], count=3)
    engine.abandon(T, c.id, "w1")
    engine.claim(T, "w2", ["x"])
    out = engine.settle_batch(
        T,
        "w1",
        [
            Report(a.id, True, {"ok": 1}),
            Report(b.id, False, error="bad"),
            Report(c.id, True, {}),
            Report("missing", True, {}),
        ],
    )
    assert out[0].task.status == "COMPLETED" and out[1].task.status == "FAILED"
    assert isinstance(out[2], NotOwner) and isinstance(out[3], NotFound)
    assert engine.get_result(T, b.id)[1].error == "bad"
    stats = engine.queue_stats(T, "x")
    assert (stats.completed, stats.failed, stats.in_flight) == (1, 1, 1)
