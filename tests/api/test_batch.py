"""POST /v1/codeq/tasks/batch (create up to 100) and POST /tasks/claim/batch (claim up to 10)."""

from __future__ import annotations

import pytest

from tests.api.calls import API_DB, create, get, post

pytestmark = API_DB


def items(n: int, command: str = "resize") -> list[dict]:
    return [{"command": command, "payload": {"i": i}} for i in range(n)]


# -- create batch ----------------------------------------------------------------------------------------------


async def test_batch_creates_each_item_and_answers_per_item(http, producer_bearer, worker_bearer):
    body = {"tasks": [
        {"command": "resize", "payload": {"i": 0}, "priority": 9},
        {"command": "resize"},
        {"command": "a b", "payload": 1},
        {"command": "resize", "payload": 2, "priority": 10},
        "junk",
        {"command": "resize", "payload": 3, "taskId": "client-1"},
    ]}  # fmt: skip

    r = await post(http, "/tasks/batch", producer_bearer, body)

    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 6
    assert results[0]["task"]["status"] == "PENDING" and results[0]["task"]["priority"] == 9
    assert results[1] == {"error": "payload is required"}
    assert results[2] == {"error": "invalid command"}
    assert results[3] == {"error": "invalid 'priority' (must be 0-9)"}
    assert results[4] == {"error": "invalid body"}
    assert results[5]["task"]["id"] == "client-1"
    for created in (results[0]["task"], results[5]["task"]):
        assert (await get(http, f"/tasks/{created['id']}", worker_bearer)).json()["id"] == created["id"]


@pytest.mark.parametrize("size", [1, 100])
async def test_batch_of_1_to_100_is_accepted(http, producer_bearer, admin_bearer, size):
    r = await post(http, "/tasks/batch", producer_bearer, {"tasks": items(size)})

    assert r.status_code == 200 and all("task" in item for item in r.json()["results"])
    assert (await get(http, "/admin/queues/resize", admin_bearer)).json()["ready"] == size


@pytest.mark.parametrize("body", [{"tasks": []}, {"tasks": items(101)}, {}, {"tasks": {}}, {"tasks": "x"}, [1]])
async def test_batch_outside_1_to_100_or_not_a_list_is_a_400(http, producer_bearer, admin_bearer, body):
    r = await post(http, "/tasks/batch", producer_bearer, body)

    assert r.status_code == 400 and isinstance(r.json()["error"], str)
    assert (await get(http, "/admin/queues", admin_bearer)).json() == {}


async def test_batch_replays_idempotency_keys_item_by_item(http, producer_bearer):
    first = await create(http, producer_bearer, idempotencyKey="k-1")

    r = await post(http, "/tasks/batch", producer_bearer, {"tasks": [
        {"command": "resize", "payload": 1, "idempotencyKey": "k-1"},
        {"command": "resize", "payload": 1, "idempotencyKey": "k-2"},
    ]})  # fmt: skip

    results = r.json()["results"]
    assert results[0]["task"]["id"] == first["id"] and results[1]["task"]["id"] != first["id"]


async def test_batch_create_is_for_producers_and_admins(http, worker_bearer, admin_bearer):
    forbidden = await post(http, "/tasks/batch", worker_bearer, {"tasks": items(1)})

    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert (await post(http, "/tasks/batch", admin_bearer, {"tasks": items(1)})).status_code == 200


# -- claim batch -----------------------------------------------------------------------------------------------


async def test_claim_batch_takes_up_to_count_in_claim_order(http, producer_bearer, worker_bearer):
    await post(http, "/tasks/batch", producer_bearer, {"tasks": items(3)})
    high = await create(http, producer_bearer, priority=9)

    r = await post(http, "/tasks/claim/batch", worker_bearer, {"count": 2, "commands": ["resize"]})

    assert r.status_code == 200
    tasks = r.json()["tasks"]
    assert len(tasks) == 2 and tasks[0]["id"] == high["id"]
    assert all(t["status"] == "IN_PROGRESS" and t["attempts"] == 1 and t["workerId"] for t in tasks)
    rest = await post(http, "/tasks/claim/batch", worker_bearer, {"count": 10, "commands": ["resize"]})
    assert len(rest.json()["tasks"]) == 2


async def test_claim_batch_on_an_empty_queue_is_204(http, worker_bearer):
    r = await post(http, "/tasks/claim/batch", worker_bearer, {"count": 10, "commands": ["resize"]})

    assert r.status_code == 204 and r.content == b""


@pytest.mark.parametrize("count", [1, 10])
async def test_claim_batch_count_1_to_10_is_accepted(http, producer_bearer, worker_bearer, count):
    await post(http, "/tasks/batch", producer_bearer, {"tasks": items(12)})

    r = await post(http, "/tasks/claim/batch", worker_bearer, {"count": count, "leaseSeconds": 60})

    assert r.status_code == 200 and len(r.json()["tasks"]) == count


async def test_bad_claim_batch_is_a_400_and_claims_nothing(http, producer_bearer, worker_bearer, admin_bearer):
    await create(http, producer_bearer)

    for body in ({}, {"count": 0}, {"count": 11}, {"count": -1}, {"count": "2"}, {"count": 2.0}, {"count": None},
                 {"count": 1, "leaseSeconds": 43201}, {"count": 1, "commands": "resize"}, [1]):  # fmt: skip
        r = await post(http, "/tasks/claim/batch", worker_bearer, body)
        assert r.status_code == 400, body

    assert (await get(http, "/admin/queues/resize", admin_bearer)).json()["ready"] == 1


async def test_claim_batch_is_for_workers_and_admins_of_the_tenant(http, producer_bearer, admin_bearer, foreign_bearer):
    await create(http, producer_bearer)

    forbidden = await post(http, "/tasks/claim/batch", producer_bearer, {"count": 1})
    foreign = await post(http, "/tasks/claim/batch", foreign_bearer, {"count": 1, "commands": ["resize"]})

    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert foreign.status_code == 204
    assert (await post(http, "/tasks/claim/batch", admin_bearer, {"count": 1})).status_code == 200


async def test_batch_whose_items_all_fail_the_stores_checks_answers_each_error(http, producer_bearer, admin_bearer):
    body = {
        "tasks": [{"command": "resize", "payload": 1, "tags": [1]}, {"command": "resize", "payload": 2, "taskId": "-x"}]
    }

    r = await post(http, "/tasks/batch", producer_bearer, body)

    assert r.status_code == 200
    assert [set(item) for item in r.json()["results"]] == [{"error"}, {"error"}]
    assert (await get(http, "/admin/queues", admin_bearer)).json() == {}
