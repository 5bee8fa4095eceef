"""Results stored together: the asyncio face sends the complete/fail calls of one shard made in one turn
of the event loop as one script call (engine/lanes.py), and every caller still gets its own answer."""

import asyncio

import pytest

from codeq_platform.engine import AsyncEngine, NewTask, connect_async
from codeq_platform.engine.lanes import GROUP
from codeq_platform.errors import NotFound, NotOwner, StoreUnavailable

T = "acme"


def counted(engine: AsyncEngine) -> list[str]:
    """The script calls ``engine`` sends to the store from now on, by name (the store still answers each)."""
    sent: list[str] = []
    send = engine._call

    async def count(name, keys, args):
        sent.append(name)
        return await send(name, keys, args)

    engine.lanes._send = count
    return sent


@pytest.fixture
def calls(aengine) -> list[str]:
    return counted(aengine)


async def test_results_made_together_go_as_one_call_and_each_caller_gets_its_own_answer(engine, aengine, calls):
    engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(20)])
    held = {f"w{n}": engine.claim(T, f"w{n}", ["x"])[0] for n in range(8)}
    kept = engine.claim(T, "keeper", ["x"])[0]

    answers = await asyncio.gather(
        *(aengine.complete(T, task.id, worker, {"by": worker}, next_commands=["x"]) for worker, task in held.items()),
        aengine.fail(T, kept.id, "intruder", "not mine", next_commands=["x"]),
        aengine.complete(T, "no-such-task", "w1", None, next_commands=["x"]),
        return_exceptions=True,
    )

    assert calls == ["settle_batch"]
    settled, intruder, missing = answers[:8], answers[8], answers[9]
    assert [s.task.id for s in settled] == [t.id for t in held.values()]
    assert all(s.task.status == "COMPLETED" and not s.repeated for s in settled)
    nexts = [s.claimed[0] for s in settled]
    assert len({t.id for t in nexts}) == 8 and not {t.id for t in nexts} & {t.id for t in held.values()}
    assert [t.worker_id for t in nexts] == list(held)
    assert isinstance(intruder, NotOwner) and isinstance(missing, NotFound)
    _, result = await aengine.get_result(T, held["w3"].id)
    assert result.result == '{"by":"w3"}'
    stats = await aengine.queue_stats(T, "x")
    assert (stats.ready, stats.in_flight, stats.completed) == (3, 9, 8)


async def test_a_lone_result_goes_as_its_own_call_and_a_repeat_answers_as_the_first(engine, aengine, calls):
    engine.enqueue(T, NewTask("x", {}))
    task = engine.claim(T, "w", ["x"])[0]
    first = await aengine.complete(T, task.id, "w", {"ok": True})
    again = await aengine.complete(T, task.id, "w", {"ok": True})
    assert calls == ["complete", "complete"]
    assert not first.repeated and again.repeated and again.task.status == "COMPLETED"


async def test_many_results_at_once_go_in_groups_and_claim_each_next_task_once(engine, aengine, calls):
    n = GROUP * 2 + 3
    engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(n * 2)])
    held = [(f"w{i}", engine.claim(T, f"w{i}", ["x"])[0]) for i in range(n)]

    settled = await asyncio.gather(*(aengine.complete(T, t.id, w, None, next_commands=["x"]) for w, t in held))

    assert calls == ["settle_batch", "settle_batch", "settle_batch"]
    nexts = [t.id for s in settled for t in s.claimed]
    assert len(nexts) == n and len(set(nexts)) == n
    stats = await aengine.queue_stats(T, "x")
    assert (stats.ready, stats.in_flight, stats.completed) == (0, n, n)


async def test_every_caller_of_a_group_hears_that_the_store_is_down(config):
    down = AsyncEngine(connect_async("redis://127.0.0.1:1/0"), config)
    sent = counted(down)
    try:
        answers = await asyncio.gather(*(down.complete(T, f"t{i}", f"w{i}", None) for i in range(3)),
                                       return_exceptions=True)  # fmt: skip
    finally:
        await down.aclose()
    assert sent == ["settle_batch"]
    assert all(isinstance(a, StoreUnavailable) for a in answers)


async def test_a_result_whose_caller_gave_up_before_it_was_sent_is_not_stored(engine, aengine, calls):
    engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(2)])
    kept, dropped = engine.claim(T, "w", ["x"], count=2)
    sending = asyncio.ensure_future(aengine.complete(T, kept.id, "w", None))
    giving_up = asyncio.ensure_future(aengine.complete(T, dropped.id, "w", None))
    await asyncio.sleep(0)  # both are waiting in the lane
    giving_up.cancel()
    assert (await sending).task.status == "COMPLETED"
    assert calls == ["complete"]
    assert engine.get_task(T, dropped.id).status == "IN_PROGRESS"


def test_a_lane_left_by_a_closed_event_loop_does_not_hold_up_the_next_loop(engine, kv_url, config):
    from codeq_platform.engine import AsyncEngine, connect_async

    engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(2)])
    first, second = engine.claim(T, "w", ["x"], count=2)
    shared = AsyncEngine(connect_async(kv_url), config)

    async def joins_then_stops():
        joining = asyncio.ensure_future(shared.complete(T, first.id, "w", None))
        await asyncio.sleep(0)  # the call has joined its lane, whose turn ends after this one
        asyncio.get_running_loop().stop()
        await asyncio.sleep(3600)
        await joining

    abandoned = asyncio.new_event_loop()
    with pytest.raises(RuntimeError, match="stopped before Future completed"):
        abandoned.run_until_complete(joins_then_stops())
    assert shared.lanes._lanes  # the lane was left behind
    abandoned.close()

    async def later():
        try:
            return await asyncio.wait_for(shared.complete(T, second.id, "w", None), 60)
        finally:
            await shared.aclose()

    assert asyncio.run(later()).task.status == "COMPLETED"


async def test_a_group_claims_no_more_next_tasks_than_one_call_may(engine, aengine, calls):
    wants = [600, 300, 600, 100]
    for start in range(0, sum(wants) + len(wants), 1000):
        engine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(start, min(start + 1000, sum(wants) + 4))])
    held = [(f"w{i}", engine.claim(T, f"w{i}", ["x"])[0]) for i in range(len(wants))]

    settled = await asyncio.gather(*(aengine.complete(T, t.id, w, None, next_commands=["x"], next_count=want)
                                     for (w, t), want in zip(held, wants, strict=True)))  # fmt: skip

    assert calls == ["settle_batch", "settle_batch"]  # 600 + 300, then 600 + 100
    assert [len(s.claimed) for s in settled] == wants
    assert len({t.id for s in settled for t in s.claimed}) == sum(wants)
