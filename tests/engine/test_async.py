import asyncio

from codeq_platform.engine import NewTask

T = "acme"


async def test_async_face_runs_a_task_through_its_life(aengine):
    task = (await aengine.enqueue(T, NewTask("x", {"n": 1}))).task
    claimed = await aengine.claim(T, "w", ["x"])
    assert [t.id for t in claimed] == [task.id]
    await aengine.heartbeat(T, task.id, "w")
    await aengine.complete(T, task.id, "w", {"ok": True})
    got, result = await aengine.get_result(T, task.id)
    assert got.status == "COMPLETED" and result.result == '{"ok":true}'


async def test_many_coroutines_share_one_connection_and_claim_each_task_once(aengine):
    await aengine.enqueue_batch(T, [NewTask("x", {"i": i}) for i in range(200)])
    results = await asyncio.gather(*(aengine.claim(T, f"w{n}", ["x"], count=3) for n in range(100)))
    ids = [t.id for batch in results for t in batch]
    assert len(ids) == 200 and len(set(ids)) == 200
    stats = await aengine.queue_stats(T, "x")
    assert (stats.ready, stats.in_flight) == (0, 200)
