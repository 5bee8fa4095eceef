"""The holder's lease operations: heartbeat, abandon, nack and progress (POST /v1/codeq/tasks/{id}/...)."""

from __future__ import annotations

import pytest

from tests.api.calls import API_DB, claim, claimed, create, get, mint, post, set_limits
from tests.api.test_claim import lease_seconds_left

MISSING = "6f1c1f0e-3d6b-4c47-9f1e-2f0a4c1d9b77"

pytestmark = API_DB


@pytest.fixture
def other_worker(tenant) -> str:
    return mint(tenant, "worker")


async def task_of(http, token, task_id) -> dict:
    r = await get(http, f"/tasks/{task_id}", token)
    assert r.status_code == 200
    return r.json()


# -- heartbeat -----------------------------------------------------------------------------------------------


async def test_heartbeat_extends_the_lease_by_extend_seconds(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer, leaseSeconds=10)

    r = await post(http, f"/tasks/{task['id']}/heartbeat", worker_bearer, {"extendSeconds": 600})

    assert r.status_code == 200 and r.json() == {"ok": True}
    assert 595 <= lease_seconds_left(await task_of(http, producer_bearer, task["id"])) <= 601


@pytest.mark.parametrize(("extend", "expected"), [(1, 1), (43200, 43200), (0, 300), (None, 300)])
async def test_extend_seconds_from_1_to_43200_and_0_means_300(http, producer_bearer, worker_bearer, extend, expected):
    task = await claimed(http, producer_bearer, worker_bearer)
    body = {} if extend is None else {"extendSeconds": extend}

    assert (await post(http, f"/tasks/{task['id']}/heartbeat", worker_bearer, body)).json() == {"ok": True}
    assert expected - 2 <= lease_seconds_left(await task_of(http, producer_bearer, task["id"])) <= expected + 1


async def test_heartbeat_with_an_empty_body_uses_the_default(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await http.post(f"/v1/codeq/tasks/{task['id']}/heartbeat", headers={"Authorization": f"Bearer {worker_bearer}"})

    assert r.status_code == 200 and r.json() == {"ok": True}


async def test_bad_extend_seconds_is_a_400(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    for value in (43201, -1, "5", 2.5, True, [1]):
        r = await post(http, f"/tasks/{task['id']}/heartbeat", worker_bearer, {"extendSeconds": value})
        assert r.status_code == 400 and r.json()["field"] == "extendSeconds", value


# -- ownership, shared by heartbeat, abandon and nack --------------------------------------------------------

HOLDER_OPS = [("heartbeat", {}), ("abandon", None), ("nack", {"delaySeconds": 0})]


@pytest.mark.parametrize(("op", "body"), HOLDER_OPS)
async def test_another_worker_gets_403_not_owner_and_changes_nothing(
    http, producer_bearer, worker_bearer, other_worker, op, body
):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/{op}", other_worker, body)

    assert r.status_code == 403 and r.json()["error"] == "not-owner"
    after = await task_of(http, producer_bearer, task["id"])
    assert after["status"] == "IN_PROGRESS" and after["workerId"] == task["workerId"]
    assert after["leaseUntil"] == task["leaseUntil"]


@pytest.mark.parametrize(("op", "body"), HOLDER_OPS)
async def test_a_task_nobody_holds_gives_403_not_owner(http, producer_bearer, worker_bearer, op, body):
    pending = await create(http, producer_bearer)

    r = await post(http, f"/tasks/{pending['id']}/{op}", worker_bearer, body)

    assert r.status_code == 403 and r.json()["error"] == "not-owner"


@pytest.mark.parametrize(("op", "body"), [*HOLDER_OPS, ("progress", {"progress": {"pct": 1}})])
async def test_foreign_task_answers_404_exactly_like_a_missing_one(
    http, producer_bearer, worker_bearer, foreign_bearer, op, body
):
    task = await claimed(http, producer_bearer, worker_bearer)

    foreign = await post(http, f"/tasks/{task['id']}/{op}", foreign_bearer, body)
    missing = await post(http, f"/tasks/{MISSING}/{op}", worker_bearer, body)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() and foreign.json()["error"] == "not-found"
    assert (await task_of(http, producer_bearer, task["id"]))["status"] == "IN_PROGRESS"


@pytest.mark.parametrize("op", ["heartbeat", "abandon", "nack", "progress"])
async def test_producer_is_forbidden(http, producer_bearer, op):
    r = await post(http, f"/tasks/{MISSING}/{op}", producer_bearer, {})

    assert r.status_code == 403 and r.json()["error"] == "forbidden"


@pytest.mark.parametrize("op", ["heartbeat", "abandon", "nack", "progress"])
async def test_admin_may_act_on_its_own_lease(http, producer_bearer, admin_bearer, op):
    task = await claimed(http, producer_bearer, admin_bearer)
    body = {"progress": {"pct": 5}} if op == "progress" else {}

    assert (await post(http, f"/tasks/{task['id']}/{op}", admin_bearer, body)).status_code == 200


# -- abandon ---------------------------------------------------------------------------------------------------


async def test_abandon_requeues_at_once_without_charging_the_attempt(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/abandon", worker_bearer)

    assert r.status_code == 200 and r.json() == {"status": "requeued"}
    after = await task_of(http, producer_bearer, task["id"])
    assert after["status"] == "PENDING" and after["attempts"] == 0 and "workerId" not in after
    again = await claim(http, worker_bearer)
    assert again["id"] == task["id"] and again["attempts"] == 1


async def test_abandon_never_dead_letters(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer, maxAttempts=1)

    assert (await post(http, f"/tasks/{task['id']}/abandon", worker_bearer)).json() == {"status": "requeued"}
    assert (await claim(http, worker_bearer))["id"] == task["id"]


async def test_a_second_abandon_is_not_owner(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    await post(http, f"/tasks/{task['id']}/abandon", worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/abandon", worker_bearer)

    assert r.status_code == 403 and r.json()["error"] == "not-owner"


# -- nack ------------------------------------------------------------------------------------------------------


async def test_nack_with_delay_0_requeues_now_and_keeps_the_charge(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 0, "reason": "flaky"})

    assert r.status_code == 200 and r.json() == {"status": "requeued", "delaySeconds": 0}
    after = await task_of(http, producer_bearer, task["id"])
    assert after["status"] == "PENDING" and after["attempts"] == 1 and after["error"] == "flaky"
    assert (await claim(http, worker_bearer))["attempts"] == 2


async def test_nack_with_a_delay_hides_the_task_until_then(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 60})

    assert r.json() == {"status": "requeued", "delaySeconds": 60}
    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204
    assert (await task_of(http, producer_bearer, task["id"]))["status"] == "PENDING"


async def test_nack_delay_is_capped_at_900(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 10_000_000})

    assert r.json() == {"status": "requeued", "delaySeconds": 900}


async def test_nack_without_delay_backs_off_with_jitter(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {})

    body = r.json()
    assert r.status_code == 200 and body["status"] == "requeued" and 0 <= body["delaySeconds"] <= 10


async def test_bad_nack_delay_is_a_400_and_keeps_the_lease(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    for value in (-1, "5", 1.5, True):
        r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": value})
        assert r.status_code == 400 and r.json()["error"] == "invalid 'delaySeconds' (must be >= 0)", value
    r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"reason": 5})
    assert r.status_code == 400
    assert (await task_of(http, producer_bearer, task["id"]))["status"] == "IN_PROGRESS"


async def test_nack_past_max_attempts_dead_letters(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer, maxAttempts=2)
    assert (await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 0})).json()["status"] == (
        "requeued"
    )
    await claim(http, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/nack", worker_bearer, {"delaySeconds": 0, "reason": "boom"})

    assert r.status_code == 200 and r.json() == {"status": "dlq", "delaySeconds": 0}
    dead = await task_of(http, producer_bearer, task["id"])
    assert dead["status"] == "FAILED" and dead["error"] == "boom" and dead["attempts"] == 2
    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204


# -- progress --------------------------------------------------------------------------------------------------


async def test_progress_is_shown_on_the_task_and_kept_across_retries(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/progress", worker_bearer, {"progress": {"pct": 40, "step": "é✓"}})

    assert r.status_code == 200 and r.json() == {"ok": True}
    assert (await task_of(http, producer_bearer, task["id"]))["progress"] == {"pct": 40, "step": "é✓"}
    await post(http, f"/tasks/{task['id']}/abandon", worker_bearer)
    assert (await claim(http, worker_bearer))["progress"] == {"pct": 40, "step": "é✓"}


async def test_progress_body_must_be_exactly_one_non_null_progress(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)

    for body in ({}, {"progress": None}, {"progress": 1, "extra": 2}, [1], "x", 5):
        r = await post(http, f"/tasks/{task['id']}/progress", worker_bearer, body)
        assert r.status_code == 400 and r.json()["field" if isinstance(body, dict) else "error"], body
    assert "progress" not in await task_of(http, producer_bearer, task["id"])


async def test_progress_up_to_64_kib_is_kept_and_one_byte_more_is_413(http, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    at_limit = "x" * (64 * 1024 - 2)  # the JSON string's quotes make it exactly 64 KiB

    ok = await post(http, f"/tasks/{task['id']}/progress", worker_bearer, {"progress": at_limit})
    too_big = await post(http, f"/tasks/{task['id']}/progress", worker_bearer, {"progress": at_limit + "x"})

    assert ok.status_code == 200
    assert too_big.status_code == 413 and too_big.json()["error"] == "progress too large"
    assert (await task_of(http, producer_bearer, task["id"]))["progress"] == at_limit


async def test_progress_body_above_the_body_limit_is_413(http, tenant, producer_bearer, worker_bearer):
    task = await claimed(http, producer_bearer, worker_bearer)
    await set_limits(tenant, max_body_bytes=1000)

    r = await post(http, f"/tasks/{task['id']}/progress", worker_bearer, {"progress": "x" * 1000})

    assert r.status_code == 413


async def test_progress_of_another_workers_task_is_not_owner(http, producer_bearer, worker_bearer, other_worker):
    task = await claimed(http, producer_bearer, worker_bearer)

    r = await post(http, f"/tasks/{task['id']}/progress", other_worker, {"progress": 1})

    assert r.status_code == 403 and r.json()["error"] == "not-owner"


async def test_progress_of_a_task_nobody_holds_is_409_not_in_progress(http, producer_bearer, worker_bearer):
    pending = await create(http, producer_bearer)

    r = await post(http, f"/tasks/{pending['id']}/progress", worker_bearer, {"progress": 1})

    assert r.status_code == 409 and r.json()["error"] == "not-in-progress"
