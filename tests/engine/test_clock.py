"""One clock: every time the engine stores or compares is the store's, never the calling host's."""

import pytest

from codeq_platform.engine import Engine, NewTask, State, connect
from codeq_platform.engine.store import connect as connect_store

T = "acme"


def store_ms(kv_url: str) -> int:
    with connect_store(kv_url) as raw:
        seconds, micros = raw.time()
    return seconds * 1000 + micros // 1000


@pytest.fixture
def store_clocked(kv_url, config):
    """An engine as production builds it: no clock of its own."""
    client = connect(kv_url)
    engine = Engine(client, config)
    yield engine
    engine.close()
    client.close()


def test_times_come_from_the_store_when_the_engine_has_no_clock(store_clocked, kv_url):
    before = store_ms(kv_url)
    task = store_clocked.enqueue(T, NewTask("x", {}, delay_ms=60_000)).task
    leased = store_clocked.enqueue(T, NewTask("y", {})).task
    held = store_clocked.claim(T, "w", ["y"], lease_ms=30_000)[0]
    settled = store_clocked.complete(T, leased.id, "w", {"ok": True})
    _, result = store_clocked.get_result(T, leased.id)
    after = store_ms(kv_url)

    assert before <= task.created_ms <= after and task.due_ms == task.created_ms + 60_000
    assert held.lease_until_ms == held.updated_ms + 30_000 and before <= held.updated_ms <= after
    assert before <= settled.task.finished_ms <= after and result.completed_ms == settled.task.finished_ms
    assert store_clocked.claim(T, "w", ["x"]) == [] and store_clocked.sweep(T).promoted == 0


def test_a_test_clock_replaces_the_store_clock_in_every_stored_time(engine, clock):
    task = engine.enqueue(T, NewTask("x", {}, delay_ms=5_000)).task
    clock.advance(5)
    assert engine.sweep(T).promoted == 1
    engine.claim(T, "w", ["x"])
    settled = engine.complete(T, task.id, "w", {})
    _, result = engine.get_result(T, task.id)
    assert task.created_ms == settled.task.finished_ms - 5_000 == int(clock.now * 1000) - 5_000
    assert result.completed_ms == int(clock.now * 1000) and settled.task.state is State.COMPLETED
