"""idempotencyKey, deduplicationKey and taskId over HTTP (reference §3): replays, per tenant, exclusive."""

from __future__ import annotations

from tests.api.calls import API_DB, claim, create, get, post

pytestmark = API_DB


async def test_idempotency_key_replays_the_first_task_and_creates_nothing(http, producer_bearer, admin_bearer):
    first = await create(http, producer_bearer, "resize", {"v": 1}, idempotencyKey="order-7")

    again = await create(http, producer_bearer, "resize", {"v": 2}, idempotencyKey="order-7")

    assert again["id"] == first["id"] and again["payload"] == first["payload"]
    assert (await get(http, "/admin/queues/resize", admin_bearer)).json()["ready"] == 1


async def test_idempotency_key_still_replays_after_the_task_finished(http, producer_bearer, worker_bearer):
    first = await create(http, producer_bearer, idempotencyKey="order-8")
    await claim(http, worker_bearer)
    await post(http, f"/tasks/{first['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})

    again = await create(http, producer_bearer, idempotencyKey="order-8")

    assert again["id"] == first["id"] and again["status"] == "COMPLETED"


async def test_dedup_key_returns_the_pending_holder_until_it_is_claimed(http, producer_bearer, worker_bearer):
    first = await create(http, producer_bearer, "resize", {"v": 1}, deduplicationKey="img-1")
    same = await create(http, producer_bearer, "resize", {"v": 2}, deduplicationKey="img-1")
    other_command = await create(http, producer_bearer, "email", {"v": 3}, deduplicationKey="img-1")
    await claim(http, worker_bearer, "resize")

    after_claim = await create(http, producer_bearer, "resize", {"v": 4}, deduplicationKey="img-1")

    assert same["id"] == first["id"] and same["payload"] == '{"v":1}'
    assert other_command["id"] != first["id"]
    assert after_claim["id"] != first["id"] and after_claim["payload"] == '{"v":4}'


async def test_client_task_id_is_the_id_and_a_repeat_returns_it_unchanged(http, producer_bearer, admin_bearer):
    first = await create(http, producer_bearer, "resize", {"v": 1}, taskId="job:2026-11-25@eu+1")

    again = await create(http, producer_bearer, "resize", {"v": 2}, taskId="job:2026-11-25@eu+1", priority=9)

    assert first["id"] == "job:2026-11-25@eu+1" and again == first
    assert (await get(http, "/tasks/job:2026-11-25@eu+1", producer_bearer)).json()["payload"] == '{"v":1}'
    assert (await get(http, "/admin/queues/resize", admin_bearer)).json()["ready"] == 1


async def test_keys_and_ids_are_per_tenant(http, producer_bearer, foreign_bearer):
    ours = await create(http, producer_bearer, idempotencyKey="shared", payload={"t": "acme"})
    ours_id = await create(http, producer_bearer, taskId="same-id", payload={"t": "acme"})

    theirs = await create(http, foreign_bearer, idempotencyKey="shared", payload={"t": "globex"})
    theirs_id = await create(http, foreign_bearer, taskId="same-id", payload={"t": "globex"})

    assert theirs["id"] != ours["id"] and theirs["tenantId"] == "globex"
    assert theirs_id["id"] == ours_id["id"] == "same-id" and theirs_id["payload"] == '{"t":"globex"}'
    assert (await get(http, "/tasks/same-id", producer_bearer)).json()["payload"] == '{"t":"acme"}'


async def test_the_three_keys_are_mutually_exclusive(http, producer_bearer):
    for keys in ({"idempotencyKey": "a", "taskId": "b"}, {"idempotencyKey": "a", "deduplicationKey": "b"},
                 {"deduplicationKey": "a", "taskId": "b"}):  # fmt: skip
        r = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1, **keys})
        assert r.status_code == 400, keys


async def test_body_tenant_id_is_ignored(http, producer_bearer, foreign_bearer):
    task = await create(http, producer_bearer, tenantId="globex")

    assert task["tenantId"] == "acme"
    assert (await get(http, f"/tasks/{task['id']}", foreign_bearer)).status_code == 404
