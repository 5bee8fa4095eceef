import pytest

from codeq_platform.engine import NewTask, State
from codeq_platform.errors import InvalidInput, PayloadTooLarge, QueueFull

T = "acme"


def test_enqueue_returns_a_pending_task_with_the_contract_defaults(engine):
    out = engine.enqueue(T, NewTask("Media.Resize", {"src": "s3://a", "w": 640}))
    task = out.task
    assert out.created
    assert task.status == "PENDING" and task.state is State.READY
    assert (task.priority, task.attempts, task.max_attempts) == (0, 0, 5)
    assert task.command == "Media.Resize"
    assert task.payload == '{"src":"s3://a","w":640}'
    assert engine.get_task(T, task.id) == task


@pytest.mark.parametrize("payload", [{"a": [1, 2, {"b": None}]}, "text", 0, False, ["é", "ü"], 1.5])
def test_any_json_payload_except_null_is_stored_as_given(engine, payload):
    import json

    task = engine.enqueue(T, NewTask("x", payload)).task
    assert json.loads(engine.get_task(T, task.id).payload) == payload


def test_delayed_task_becomes_claimable_when_due(engine, clock):
    task = engine.enqueue(T, NewTask("x", {}, delay_ms=5_000)).task
    assert task.state is State.DELAYED and task.status == "PENDING"
    assert engine.claim(T, "w", ["x"]) == []
    clock.advance(5)
    assert [t.id for t in engine.claim(T, "w", ["x"])] == [task.id]


def test_run_at_in_the_past_means_ready_now(engine, clock):
    task = engine.enqueue(T, NewTask("x", {}, run_at_ms=int(clock.now * 1000) - 60_000)).task
    assert task.state is State.READY


def test_repeated_idempotency_key_answers_the_first_task_and_creates_nothing(engine):
    first = engine.enqueue(T, NewTask("x", {"n": 1}, idempotency_key="order-17"))
    again = engine.enqueue(T, NewTask("x", {"n": 2}, idempotency_key="order-17"))
    assert first.created and not again.created
    assert again.task.id == first.task.id and again.task.payload == '{"n":1}'
    assert engine.queue_stats(T, "x").created == 1


def test_dedup_key_answers_the_pending_holder_until_it_is_claimed(engine):
    first = engine.enqueue(T, NewTask("x", {}, dedup_key="user-9")).task
    assert engine.enqueue(T, NewTask("X", {}, dedup_key="user-9")).task.id == first.id
    assert engine.enqueue(T, NewTask("y", {}, dedup_key="user-9")).created
    engine.claim(T, "w", ["x"])
    fresh = engine.enqueue(T, NewTask("x", {}, dedup_key="user-9"))
    assert fresh.created and fresh.task.id != first.id


def test_existing_client_task_id_is_answered_unchanged(engine):
    first = engine.enqueue(T, NewTask("x", {"v": 1}, task_id="invoice:2026-11")).task
    again = engine.enqueue(T, NewTask("x", {"v": 2}, task_id="invoice:2026-11"))
    assert not again.created and again.task.payload == first.payload


def test_command_matching_ignores_case(engine):
    engine.enqueue(T, NewTask("Media.Resize", {}))
    assert len(engine.claim(T, "w", ["MEDIA.resize"])) == 1


def test_batch_of_a_thousand_is_enqueued_in_order(engine):
    out = engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(1000)])
    assert all(o.created for o in out)
    claimed = engine.claim(T, "w", ["x"], count=1000)
    assert [t.payload for t in claimed] == [f'{{"i":{i}}}' for i in range(1000)]


def test_batch_reports_bad_items_in_place_and_keeps_the_good_ones(engine):
    out = engine.enqueue_batch(T, [NewTask("x", {}), NewTask("x", {}, priority=10), NewTask("y", {})])
    assert out[0].created and out[2].created
    assert isinstance(out[1], InvalidInput) and out[1].field == "priority"
    assert engine.commands(T) == ["x", "y"]


@pytest.mark.parametrize("size", [0, 1001])
def test_batch_size_is_one_to_a_thousand(engine, size):
    with pytest.raises(InvalidInput):
        engine.enqueue_batch(T, [NewTask("x", {})] * size)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (NewTask("x", {}, priority=10), "priority"),
        (NewTask("x", {}, priority=-1), "priority"),
        (NewTask("x", {}, priority="5"), "priority"),
        (NewTask("x", {}, delay_ms=-1), "delaySeconds"),
        (NewTask("", {}), "command"),
        (NewTask("has space", {}), "command"),
        (NewTask("a/b", {}), "command"),
        (NewTask("c" * 201, {}), "command"),
        (NewTask("x", None), "payload"),
        (NewTask("x", {}, max_attempts=1001), "maxAttempts"),
        (NewTask("x", {}, task_id="-starts-badly"), "taskId"),
        (NewTask("x", {}, idempotency_key="a\x00b"), "idempotencyKey"),
        (NewTask("x", {}, idempotency_key="k", task_id="t1"), "idempotencyKey"),
        (NewTask("x", {}, tags=["ok", ""]), "tags"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_changes_nothing(engine, spec, field):
    with pytest.raises(InvalidInput) as err:
        engine.enqueue(T, spec)
    assert err.value.field == field
    assert engine.commands(T) == []


def test_payload_limit_is_enforced_at_the_byte(engine, config):
    limit = config.max_payload_bytes
    fits = "a" * (limit - 2)  # the JSON string adds two quotes
    assert engine.enqueue(T, NewTask("x", fits)).created
    with pytest.raises(PayloadTooLarge):
        engine.enqueue(T, NewTask("x", fits + "a"))
    assert engine.queue_stats(T, "x").ready == 1


def test_enqueue_past_the_tenant_limit_is_refused(engine):
    engine.enqueue(T, NewTask("x", {}), max_live=2)
    engine.enqueue(T, NewTask("x", {}), max_live=2)
    with pytest.raises(QueueFull):
        engine.enqueue(T, NewTask("x", {}), max_live=2)
    engine.complete(T, engine.claim(T, "w", ["x"])[0].id, "w", {})
    assert engine.enqueue(T, NewTask("x", {}), max_live=2).created


def test_tags_and_webhook_are_kept(engine):
    task = engine.enqueue(T, NewTask("x", {}, tags=["a", "b"], webhook="https://example.com/h")).task
    got = engine.get_task(T, task.id)
    assert got.tags == ["a", "b"] and got.webhook == "https://example.com/h"
