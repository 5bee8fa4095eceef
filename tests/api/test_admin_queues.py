"""GET /v1/codeq/admin/queues, /admin/queues/{command} and /admin/queues/{command}/tasks."""

from __future__ import annotations

import pytest

from tests.api.calls import API_DB, claim, create, get, post

pytestmark = API_DB


async def test_queues_lists_every_queue_in_codeqs_key_shape(http, producer_bearer, worker_bearer, admin_bearer):
    await create(http, producer_bearer, "Resize", priority=9)
    await create(http, producer_bearer, "resize", priority=9)
    await create(http, producer_bearer, "resize", delaySeconds=60)
    await create(http, producer_bearer, "email")
    await claim(http, worker_bearer, "email")

    r = await get(http, "/admin/queues", admin_bearer)

    assert r.status_code == 200
    assert r.json() == {
        **{f"codeq:q:resize:acme:pending:{p}": 2 if p == 9 else 0 for p in range(10)},
        "codeq:q:resize:acme:inprog": 0,
        "codeq:q:resize:acme:delayed": 1,
        "codeq:q:resize:acme:dlq": 0,
        **{f"codeq:q:email:acme:pending:{p}": 0 for p in range(10)},  # codeQ lists all ten, zeros too
        "codeq:q:email:acme:inprog": 1,
        "codeq:q:email:acme:delayed": 0,
        "codeq:q:email:acme:dlq": 0,
    }


async def test_queue_detail_counts_each_state(http, producer_bearer, worker_bearer, admin_bearer):
    for priority in (0, 0, 3):
        await create(http, producer_bearer, priority=priority)
    await create(http, producer_bearer, delaySeconds=60)
    await claim(http, worker_bearer)

    r = await get(http, "/admin/queues/RESIZE", admin_bearer)

    body = r.json()
    assert r.status_code == 200
    assert {k: body[k] for k in ("command", "ready", "delayed", "inProgress", "dlq")} == {
        "command": "resize", "ready": 2, "delayed": 1, "inProgress": 1, "dlq": 0,
    }  # fmt: skip
    assert body["readyByPriority"]["0"] == 2 and body["readyByPriority"]["3"] == 0


async def test_an_unknown_command_has_zero_counts(http, admin_bearer):
    body = (await get(http, "/admin/queues/never-used", admin_bearer)).json()

    assert (body["ready"], body["delayed"], body["inProgress"], body["dlq"]) == (0, 0, 0, 0)


async def test_foreign_admin_sees_none_of_our_queues(http, producer_bearer, foreign_bearer):
    task = await create(http, producer_bearer)

    assert (await get(http, "/admin/queues", foreign_bearer)).json() == {}
    assert (await get(http, "/admin/queues/resize", foreign_bearer)).json()["ready"] == 0
    page = await get(http, "/admin/queues/resize/tasks?state=ready", foreign_bearer)
    assert page.json() == {"tasks": []} and task["id"] not in page.text


@pytest.mark.parametrize("path", ["/admin/queues", "/admin/queues/resize", "/admin/queues/resize/tasks?state=ready"])
async def test_queue_views_are_for_admins_only(http, producer_bearer, worker_bearer, path):
    for token in (producer_bearer, worker_bearer):
        r = await get(http, path, token)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert (await get(http, path, None)).status_code == 401


async def test_ready_tasks_come_in_claim_order(http, producer_bearer, admin_bearer):
    low = await create(http, producer_bearer, priority=1)
    high = await create(http, producer_bearer, priority=8)

    r = await get(http, "/admin/queues/resize/tasks?state=ready", admin_bearer)

    assert [t["id"] for t in r.json()["tasks"]] == [high["id"], low["id"]]
    assert "nextCursor" not in r.json()


async def test_each_state_lists_its_own_tasks(http, producer_bearer, worker_bearer, admin_bearer):
    later = await create(http, producer_bearer, delaySeconds=120)
    sooner = await create(http, producer_bearer, delaySeconds=60)
    held = await create(http, producer_bearer)
    await claim(http, worker_bearer)
    dead = await create(http, producer_bearer, maxAttempts=1)
    await claim(http, worker_bearer)
    await post(http, f"/tasks/{dead['id']}/nack", worker_bearer, {})

    async def ids(state):
        r = await get(http, f"/admin/queues/resize/tasks?state={state}", admin_bearer)
        assert r.status_code == 200
        return [t["id"] for t in r.json()["tasks"]]

    assert await ids("delayed") == [sooner["id"], later["id"]]
    assert await ids("inProgress") == [held["id"]]
    assert await ids("dlq") == [dead["id"]]
    assert await ids("ready") == []


async def test_pages_follow_next_cursor_to_the_end(http, producer_bearer, admin_bearer):
    created = [(await create(http, producer_bearer))["id"] for _ in range(5)]
    seen, cursor = [], None

    for _ in range(10):
        query = "state=ready&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = (await get(http, f"/admin/queues/resize/tasks?{query}", admin_bearer)).json()
        assert len(body["tasks"]) <= 2
        seen += [t["id"] for t in body["tasks"]]
        cursor = body.get("nextCursor")
        if cursor is None:
            break

    assert seen == created


@pytest.mark.parametrize("limit", [1, 500])
async def test_limit_from_1_to_500_is_accepted(http, producer_bearer, admin_bearer, limit):
    await create(http, producer_bearer)
    await create(http, producer_bearer)

    r = await get(http, f"/admin/queues/resize/tasks?state=ready&limit={limit}", admin_bearer)

    assert r.status_code == 200 and len(r.json()["tasks"]) == min(limit, 2)


async def test_bad_queue_task_queries_are_400(http, admin_bearer):
    for query in ("", "state=", "state=pending", "state=READY", "state=ready&limit=0", "state=ready&limit=501",
                  "state=ready&limit=-1", "state=ready&limit=ten", "state=ready&cursor=Z2FyYmFnZQ"):  # fmt: skip
        r = await get(http, f"/admin/queues/resize/tasks?{query}", admin_bearer)
        assert r.status_code == 400 and isinstance(r.json()["error"], str), query


async def test_bad_command_in_the_path_is_400(http, admin_bearer):
    for path in ("/admin/queues/a%20b", "/admin/queues/a%20b/tasks?state=ready", "/admin/queues/%E2%80%A8x%0A"):
        r = await get(http, path, admin_bearer)
        assert r.status_code == 400 and r.json()["error"] == "invalid command", path
