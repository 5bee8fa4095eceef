"""GET /v1/codeq/tasks/{id} and GET /tasks/{id}/result (with its waitSeconds long-poll)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.api.calls import API_DB, claim, claimed, create, get, post

pytestmark = API_DB


@pytest.fixture
def tokens(producer_bearer, worker_bearer, admin_bearer) -> dict[str, str]:
    return {"producer": producer_bearer, "worker": worker_bearer, "admin": admin_bearer}


MISSING = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"
ODD_IDS = ["..%2F..%2Fetc%2Fpasswd", "..%2F", "a%00b", "%E2%9C%93", "x" * 300, "-leading-dash", "a%20b", "a*b"]


@pytest.mark.parametrize("role", ["producer", "worker", "admin"])
async def test_every_role_reads_a_task(http, producer_bearer, tokens, role):
    task = await create(http, producer_bearer, "resize", {"k": "v"}, priority=3)

    r = await get(http, f"/tasks/{task['id']}", tokens[role])

    assert r.status_code == 200 and r.json() == task


async def test_foreign_task_is_404_exactly_like_a_missing_one(http, producer_bearer, foreign_bearer):
    task = await create(http, producer_bearer)

    foreign = await get(http, f"/tasks/{task['id']}", foreign_bearer)
    missing = await get(http, f"/tasks/{MISSING}", producer_bearer)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() and foreign.json()["error"] == "not found"


async def test_odd_task_ids_are_a_json_404(http, producer_bearer):
    for task_id in ODD_IDS:
        for path in (f"/tasks/{task_id}", f"/tasks/{task_id}/result"):
            r = await get(http, path, producer_bearer)
            assert r.status_code == 404, path
            assert r.headers["content-type"] == "application/json" and isinstance(r.json()["error"], str), path


async def test_get_without_a_token_is_401(http, producer_bearer):
    task = await create(http, producer_bearer)

    for path in (f"/tasks/{task['id']}", f"/tasks/{task['id']}/result"):
        r = await get(http, path, None)
        assert r.status_code == 401 and r.json()["error"] == "missing bearer token"


# -- result ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["producer", "worker", "admin"])
async def test_every_role_reads_a_result(http, producer_bearer, worker_bearer, tokens, role):
    task = await claimed(http, producer_bearer, worker_bearer)
    reported = await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})

    r = await get(http, f"/tasks/{task['id']}/result", tokens[role])

    assert r.status_code == 200 and r.json()["result"] == reported.json()
    assert r.json()["task"]["id"] == task["id"] and r.json()["task"]["status"] == "COMPLETED"


async def test_no_result_yet_is_404_result_not_found(http, producer_bearer, worker_bearer):
    pending = await create(http, producer_bearer, "email")
    running = await claimed(http, producer_bearer, worker_bearer)

    for task in (pending, running):
        r = await get(http, f"/tasks/{task['id']}/result", producer_bearer)
        assert r.status_code == 404 and r.json()["error"] == "result not found"


async def test_a_dead_lettered_task_has_no_result(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer, maxAttempts=1)
    assert (await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {})).json()["status"] == "dlq"

    r = await get(http, f"/tasks/{task['id']}/result", producer_bearer)

    assert r.status_code == 404 and r.json()["error"] == "result not found"


async def test_missing_or_foreign_task_is_404_task_not_found_at_once(
    http, producer_bearer, worker_bearer, foreign_bearer
):
    task = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    started = time.monotonic()

    foreign = await get(http, f"/tasks/{task['id']}/result?waitSeconds=60", foreign_bearer)
    missing = await get(http, f"/tasks/{MISSING}/result?waitSeconds=60", producer_bearer)

    assert time.monotonic() - started < 1
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() and foreign.json()["error"] == "task not found"


async def test_long_poll_answers_as_soon_as_the_result_is_stored(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    async def report_later():
        await asyncio.sleep(0.5)
        await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"v": 2}})

    started = time.monotonic()
    r, _ = await asyncio.gather(get(http, f"/tasks/{task['id']}/result?waitSeconds=10", producer_bearer),
                                report_later())  # fmt: skip

    assert r.status_code == 200 and r.json()["result"]["result"] == {"v": 2}
    assert 0.4 <= time.monotonic() - started < 2


async def test_long_poll_without_a_result_is_404_after_the_wait(http, producer_bearer):
    task = await create(http, producer_bearer)
    started = time.monotonic()

    r = await get(http, f"/tasks/{task['id']}/result?waitSeconds=1", producer_bearer)

    assert r.status_code == 404 and r.json()["error"] == "result not found"
    assert 0.9 <= time.monotonic() - started < 2


@pytest.mark.parametrize("wait", ["61", "100000", "99999999999999999999999"])
async def test_wait_above_60_is_clamped_not_refused(http, producer_bearer, worker_bearer, wait):
    task = await claimed(http, producer_bearer, worker_bearer)

    async def report_later():
        await asyncio.sleep(0.2)
        await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})

    r, _ = await asyncio.gather(get(http, f"/tasks/{task['id']}/result?waitSeconds={wait}", producer_bearer),
                                report_later())  # fmt: skip

    assert r.status_code == 200


async def test_negative_wait_means_no_wait_and_garbage_is_400(http, producer_bearer):
    task = await create(http, producer_bearer)
    started = time.monotonic()

    negative = await get(http, f"/tasks/{task['id']}/result?waitSeconds=-5", producer_bearer)
    garbage = await get(http, f"/tasks/{task['id']}/result?waitSeconds=soon", producer_bearer)

    assert negative.status_code == 404 and negative.json()["error"] == "result not found"
    assert time.monotonic() - started < 1
    assert garbage.status_code == 400 and garbage.json()["field"] == "waitSeconds"


async def test_result_of_a_reclaimed_task_shows_the_new_attempt(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 0})
    await claim(http, worker_bearer)
    await post(http, f"/tasks/{task['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})

    r = await get(http, f"/tasks/{task['id']}/result", producer_bearer)

    assert r.json()["task"]["attempts"] == 2
