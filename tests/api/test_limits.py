"""Every limit at and past its edge: field ranges, the tenant's payload/body/queue limits, its rate limit."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.api.calls import API_DB, create, get, post, set_limits

pytestmark = API_DB


async def test_priority_0_to_9_is_accepted(http, producer_bearer):
    for priority in (0, 9):
        assert (await create(http, producer_bearer, priority=priority))["priority"] == priority


async def test_priority_outside_0_to_9_or_not_an_integer_is_400(http, producer_bearer, admin_bearer):
    for priority in (10, -1, "5", 5.0, True, [5], 2**70):
        r = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1, "priority": priority})
        assert r.status_code == 400 and r.json()["error"] == "invalid 'priority' (must be 0-9)", priority
    assert (await get(http, "/admin/queues", admin_bearer)).json() == {}


@pytest.mark.parametrize(("given", "shown"), [(1, 1), (1000, 1000), (0, 5), (None, 5)])
async def test_max_attempts_1_to_1000_and_0_means_5(http, producer_bearer, given, shown):
    assert (await create(http, producer_bearer, maxAttempts=given))["maxAttempts"] == shown


async def test_max_attempts_outside_the_range_is_400(http, producer_bearer):
    for value in (1001, -1, "5", 2.5, False):
        r = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1, "maxAttempts": value})
        assert r.status_code == 400 and r.json()["field"] == "maxAttempts", value


async def test_payload_at_the_tenants_limit_is_accepted_and_one_byte_more_is_413(
    http, tenant, producer_bearer, admin_bearer
):
    await set_limits(tenant, max_payload_bytes=1000)
    at_limit = "x" * 998  # as JSON: 1000 bytes with its quotes

    ok = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": at_limit})
    too_big = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": at_limit + "x"})

    assert ok.status_code == 202 and ok.json()["payload"] == f'"{at_limit}"'
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload exceeds 1000 bytes"
    assert (await get(http, "/admin/queues/resize", admin_bearer)).json()["ready"] == 1


async def test_batch_items_over_the_payload_limit_fail_alone(http, tenant, producer_bearer):
    await set_limits(tenant, max_payload_bytes=1000)

    r = await post(http, "/tasks/batch", producer_bearer, {"tasks": [
        {"command": "resize", "payload": "x" * 998}, {"command": "resize", "payload": "x" * 999},
    ]})  # fmt: skip

    assert "task" in r.json()["results"][0]
    assert r.json()["results"][1] == {"error": "payload exceeds 1000 bytes"}


async def test_body_above_the_tenants_body_limit_is_413(http, tenant, producer_bearer, worker_bearer):
    await set_limits(tenant, max_body_bytes=2000, max_payload_bytes=10_000)
    body = {"command": "resize", "payload": "x" * 2000}

    r = await post(http, "/tasks", producer_bearer, body)
    claim = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"] * 100, "pad": "x" * 2000})

    assert r.status_code == 413 and r.json()["error"] == "request body exceeds 2000 bytes"
    assert claim.status_code == 413
    assert (
        await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": "x" * 1800})
    ).status_code == 202


async def test_queue_full_is_429_with_retry_after(http, tenant, producer_bearer, admin_bearer):
    await set_limits(tenant, max_queued_tasks=2)
    await create(http, producer_bearer)
    await create(http, producer_bearer)

    r = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1})

    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["retryAfterSeconds"] == 1 and isinstance(r.json()["error"], str)
    assert (await get(http, "/admin/queues/resize", admin_bearer)).json()["ready"] == 2


async def test_rate_limit_is_429_with_retry_after_scope_and_operation(http, tenant, producer_bearer):
    await set_limits(tenant, requests_per_second=3)
    await asyncio.sleep(1.02 - time.time() % 1)  # start a fresh one-second window

    answers = [await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1}) for _ in range(5)]

    assert [r.status_code for r in answers[:3]] == [202, 202, 202]
    limited = answers[3]
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    body = limited.json()
    assert body["error"] == "rate limit exceeded" and body["scope"] == "tenant"
    assert body["operation"] == "create" and body["retryAfterSeconds"] == 1
    await asyncio.sleep(1.02 - time.time() % 1)
    assert (await get(http, f"/tasks/{answers[0].json()['id']}", producer_bearer)).status_code == 200


async def test_self_service_routes_count_against_the_same_rate_limit(http, tenant, producer_bearer, admin_bearer):
    await set_limits(tenant, requests_per_second=2)
    await asyncio.sleep(1.02 - time.time() % 1)  # start a fresh one-second window

    created = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1})
    listed = await get(http, "/admin/tokens", admin_bearer)
    limited = await get(http, "/admin/webhooks", admin_bearer)

    assert (created.status_code, listed.status_code) == (202, 200)
    assert limited.status_code == 429 and limited.json()["operation"] == "admin"


async def test_create_delay_seconds_must_be_a_non_negative_integer(http, producer_bearer):
    for value in (-1, "5", 1.5):
        r = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1, "delaySeconds": value})
        assert r.status_code == 400 and r.json()["error"] == "invalid 'delaySeconds' (must be >= 0)", value
    assert (await create(http, producer_bearer, delaySeconds=0))["status"] == "PENDING"


async def test_client_ids_follow_the_contracts_charset(http, producer_bearer):
    good = ["a", "A1._:@+-z", "x" * 200]
    bad = ["-a", ".a", "a b", "a/b", "a\x00b", "é", "x" * 201]

    for task_id in good:
        assert (await create(http, producer_bearer, taskId=task_id))["id"] == task_id
    for task_id in bad:
        r = await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1, "taskId": task_id})
        assert r.status_code == 400, task_id
