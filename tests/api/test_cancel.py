"""POST /v1/codeq/tasks/{id}/cancel: a producer withdraws a task nobody holds yet."""

from __future__ import annotations

from tests.api.calls import API_DB, claimed, create, get, post

pytestmark = API_DB

MISSING = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"


async def test_cancel_withdraws_a_ready_or_delayed_task(http, producer_bearer, worker_bearer):
    ready = await create(http, producer_bearer)
    delayed = await create(http, producer_bearer, delaySeconds=60)

    for task in (ready, delayed):
        r = await post(http, f"/tasks/{task['id']}/cancel", producer_bearer)
        assert r.status_code == 200 and r.json()["status"] == "FAILED" and r.json()["error"] == "CANCELLED"
        assert (await get(http, f"/tasks/{task['id']}", worker_bearer)).json()["status"] == "FAILED"
    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204


async def test_cancel_of_a_leased_task_is_409_task_in_progress(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/cancel", producer_bearer)

    assert r.status_code == 409 and r.json()["error"].startswith("task_in_progress")
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "IN_PROGRESS"


async def test_cancel_of_a_finished_task_is_409_task_finished(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    cancelled = await create(http, producer_bearer)
    await post(http, f"/tasks/{cancelled['id']}/cancel", producer_bearer)

    for finished in (task, cancelled):
        r = await post(http, f"/tasks/{finished['id']}/cancel", producer_bearer)
        assert r.status_code == 409 and r.json()["error"] == "task_finished"
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "COMPLETED"


async def test_cancel_of_a_missing_or_foreign_task_is_404(http, producer_bearer, foreign_bearer):
    task = await create(http, producer_bearer)

    foreign = await post(http, f"/tasks/{task['id']}/cancel", foreign_bearer)
    missing = await post(http, f"/tasks/{MISSING}/cancel", producer_bearer)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() and foreign.json()["error"] == "not found"
    assert (await get(http, f"/tasks/{task['id']}", producer_bearer)).json()["status"] == "PENDING"


async def test_workers_may_not_cancel_and_admins_may(http, producer_bearer, worker_bearer, admin_bearer):
    task = await create(http, producer_bearer)

    forbidden = await post(http, f"/tasks/{task['id']}/cancel", worker_bearer)

    assert forbidden.status_code == 403 and forbidden.json()["error"] == "forbidden"
    assert (await post(http, f"/tasks/{task['id']}/cancel", admin_bearer)).status_code == 200
