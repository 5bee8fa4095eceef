"""The admin's task and DLQ actions: requeue one, requeue a command's DLQ, purge it, delete, cleanup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async

from tests.api.calls import API_DB, claim, claimed, create, get, post

pytestmark = API_DB

MISSING = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"


async def dead_task(http, producer, worker, command: str = "resize") -> dict:
    """A task dead-lettered the codeQ way: nacked once it has used its maxAttempts."""
    task = await claimed(http, producer, worker, command, maxAttempts=1)
    r = await post(http, f"/tasks/{task['id']}/nack", worker, {"reason": "boom"})
    assert r.json() == {"status": "dlq", "delaySeconds": 0}
    return task


async def dlq_ids(http, admin, command: str = "resize") -> list[str]:
    r = await get(http, f"/admin/queues/{command}/tasks?state=dlq", admin)
    return [t["id"] for t in r.json()["tasks"]]


async def test_nack_past_max_attempts_then_admin_requeue_makes_it_claimable(
    http, producer_bearer, worker_bearer, admin_bearer
):
    task = await claimed(http, producer_bearer, worker_bearer, maxAttempts=2)
    await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 0})
    await claim(http, worker_bearer)
    assert (await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"reason": "x"})).json()["status"] == "dlq"
    listed = (await get(http, "/admin/queues/resize/tasks?state=dlq", admin_bearer)).json()["tasks"]
    assert [t["id"] for t in listed] == [task["id"]] and listed[0]["status"] == "FAILED"

    r = await post(http, f"/admin/tasks/{task['id']}/requeue", admin_bearer)

    assert r.status_code == 200
    requeued = r.json()
    assert requeued["status"] == "PENDING" and requeued["attempts"] == 0
    assert "error" not in requeued and "workerId" not in requeued
    assert await dlq_ids(http, admin_bearer) == []
    again = await claim(http, worker_bearer)
    assert again["id"] == task["id"] and again["attempts"] == 1


async def test_requeue_of_a_task_not_in_the_dlq_is_409(http, producer_bearer, worker_bearer, admin_bearer):
    pending = await create(http, producer_bearer, "email")
    held = await claimed(http, producer_bearer, worker_bearer)
    failed = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{failed['id']}/result", worker_bearer, {"status": "FAILED", "error": "final"})

    for task in (pending, held, failed):
        r = await post(http, f"/admin/tasks/{task['id']}/requeue", admin_bearer)
        assert r.status_code == 409 and r.json()["error"] == "task_not_in_dlq"
    assert (await get(http, f"/tasks/{failed['id']}", admin_bearer)).json()["status"] == "FAILED"


async def test_requeue_of_a_missing_or_foreign_task_is_404_not_found(
    http, producer_bearer, worker_bearer, admin_bearer, foreign_bearer
):
    task = await dead_task(http, producer_bearer, worker_bearer)

    foreign = await post(http, f"/admin/tasks/{task['id']}/requeue", foreign_bearer)
    missing = await post(http, f"/admin/tasks/{MISSING}/requeue", admin_bearer)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() and foreign.json()["error"] == "not found"
    assert await dlq_ids(http, admin_bearer) == [task["id"]]


async def test_requeue_command_moves_limit_at_a_time_and_says_what_remains(
    http, producer_bearer, worker_bearer, admin_bearer
):
    dead = [await dead_task(http, producer_bearer, worker_bearer) for _ in range(3)]

    first = await post(http, "/admin/queues/resize/dlq/requeue?limit=2", admin_bearer)
    second = await post(http, "/admin/queues/resize/dlq/requeue?limit=2", admin_bearer)
    third = await post(http, "/admin/queues/resize/dlq/requeue", admin_bearer)

    assert first.status_code == 200 and first.json() == {"requeued": 2, "remaining": True}
    assert second.json() == {"requeued": 1, "remaining": False}
    assert third.json() == {"requeued": 0, "remaining": False}
    listed = (await get(http, "/admin/queues/resize/tasks?state=ready", admin_bearer)).json()["tasks"]
    assert sorted(t["id"] for t in listed) == sorted(t["id"] for t in dead)
    assert all(t["attempts"] == 0 for t in listed)


@pytest.mark.parametrize("limit", [1, 1000])
async def test_requeue_limit_from_1_to_1000_is_accepted(http, admin_bearer, limit):
    r = await post(http, f"/admin/queues/resize/dlq/requeue?limit={limit}", admin_bearer)

    assert r.status_code == 200 and r.json() == {"requeued": 0, "remaining": False}


async def test_requeue_limit_outside_1_to_1000_is_400(http, producer_bearer, worker_bearer, admin_bearer):
    task = await dead_task(http, producer_bearer, worker_bearer)

    for limit in ("0", "1001", "-1", "x", "1.5"):
        r = await post(http, f"/admin/queues/resize/dlq/requeue?limit={limit}", admin_bearer)
        assert r.status_code == 400 and r.json()["field"] == "limit", limit
    assert await dlq_ids(http, admin_bearer) == [task["id"]]


async def test_foreign_admin_requeues_nothing_of_ours(
    http, producer_bearer, worker_bearer, admin_bearer, foreign_bearer
):
    task = await dead_task(http, producer_bearer, worker_bearer)

    r = await post(http, "/admin/queues/resize/dlq/requeue", foreign_bearer)

    assert r.json() == {"requeued": 0, "remaining": False}
    assert await dlq_ids(http, admin_bearer) == [task["id"]]


async def test_purge_deletes_the_commands_dead_tasks(http, producer_bearer, worker_bearer, admin_bearer):
    dead = [await dead_task(http, producer_bearer, worker_bearer) for _ in range(2)]
    other = await dead_task(http, producer_bearer, worker_bearer, "email")

    r = await http.delete(
        "/v1/codeq/admin/queues/resize/dlq?limit=1", headers={"Authorization": f"Bearer {admin_bearer}"}
    )
    rest = await http.delete("/v1/codeq/admin/queues/resize/dlq", headers={"Authorization": f"Bearer {admin_bearer}"})

    assert r.status_code == 200 and r.json() == {"deleted": 1, "remaining": True}
    assert rest.json() == {"deleted": 1, "remaining": False}
    assert await dlq_ids(http, admin_bearer) == []
    for task in dead:
        assert (await get(http, f"/tasks/{task['id']}", admin_bearer)).status_code == 404
    assert await dlq_ids(http, admin_bearer, "email") == [other["id"]]


async def test_delete_removes_the_task_and_its_result(http, producer_bearer, worker_bearer, admin_bearer):
    pending = await create(http, producer_bearer, "email")
    done = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{done['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    auth = {"Authorization": f"Bearer {admin_bearer}"}

    for task in (pending, done):
        r = await http.delete(f"/v1/codeq/admin/tasks/{task['id']}", headers=auth)
        assert r.status_code == 204 and r.content == b""
        assert (await get(http, f"/tasks/{task['id']}", admin_bearer)).status_code == 404
        assert (await get(http, f"/tasks/{task['id']}/result", admin_bearer)).json()["error"] == "task not found"
    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["email"]})).status_code == 204


async def test_delete_of_a_leased_task_is_409_task_in_progress(http, producer_bearer, worker_bearer, admin_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await http.delete(f"/v1/codeq/admin/tasks/{task['id']}", headers={"Authorization": f"Bearer {admin_bearer}"})

    assert r.status_code == 409 and r.json()["error"] == "task_in_progress"
    assert (await get(http, f"/tasks/{task['id']}", admin_bearer)).json()["status"] == "IN_PROGRESS"


async def test_delete_of_a_missing_or_foreign_task_is_404(http, producer_bearer, admin_bearer, foreign_bearer):
    task = await create(http, producer_bearer)

    foreign = await http.delete(
        f"/v1/codeq/admin/tasks/{task['id']}", headers={"Authorization": f"Bearer {foreign_bearer}"}
    )
    missing = await http.delete(f"/v1/codeq/admin/tasks/{MISSING}", headers={"Authorization": f"Bearer {admin_bearer}"})

    assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()
    assert (await get(http, f"/tasks/{task['id']}", admin_bearer)).status_code == 200


async def test_cleanup_with_codeqs_defaults_keeps_what_retention_still_keeps(http, producer_bearer, worker_bearer,
                                                                           admin_bearer):  # fmt: skip
    done = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{done['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"v": 1}})

    r = await post(http, "/admin/tasks/cleanup", admin_bearer, {})  # codeQ's client: before = now

    assert r.status_code == 200 and r.json()["deleted"] == 0 and r.json()["limit"] == 1000
    assert (await get(http, f"/tasks/{done['id']}/result", producer_bearer)).status_code == 200


async def test_cleanup_deletes_the_tasks_whose_retention_ends_at_or_before_the_cutoff(
    http, tenant, producer_bearer, worker_bearer, admin_bearer
):
    tenant.result_retention_seconds = 3600
    await sync_to_async(tenant.save)()
    done = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{done['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    completed_at = (await get(http, f"/tasks/{done['id']}", admin_bearer)).json()["completedAt"]
    finished_ms = int(datetime.fromisoformat(completed_at).timestamp() * 1000)
    pending = await create(http, producer_bearer)

    def before(ms: int) -> dict:
        return {"before": datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")}

    early = await post(http, "/admin/tasks/cleanup", admin_bearer, before(finished_ms + 3600_000 - 1))
    at = await post(http, "/admin/tasks/cleanup", admin_bearer, before(finished_ms + 3600_000))

    assert early.json()["deleted"] == 0 and at.json()["deleted"] == 1
    assert (await get(http, f"/tasks/{done['id']}", admin_bearer)).status_code == 404
    assert (await get(http, f"/tasks/{pending['id']}", admin_bearer)).status_code == 200


async def test_bad_cleanup_is_400(http, admin_bearer):
    for body in ({"limit": 0}, {"limit": 10_001}, {"limit": "5"}, {"before": "yesterday"}, {"before": 5},
                 {"before": "2020-01-01"}, [1]):  # fmt: skip
        r = await post(http, "/admin/tasks/cleanup", admin_bearer, body)
        assert r.status_code == 400, body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/admin/tasks/{MISSING}/requeue"),
        ("POST", "/admin/queues/resize/dlq/requeue"),
        ("DELETE", "/admin/queues/resize/dlq"),
        ("DELETE", f"/admin/tasks/{MISSING}"),
        ("POST", "/admin/tasks/cleanup"),
    ],
)
async def test_dlq_and_task_actions_are_for_admins_only(http, producer_bearer, worker_bearer, method, path):
    for token in (producer_bearer, worker_bearer):
        r = await http.request(method, f"/v1/codeq{path}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert (await http.request(method, f"/v1/codeq{path}")).status_code == 401
