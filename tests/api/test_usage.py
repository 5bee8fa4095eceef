"""Usage per UTC day (GET /v1/codeq/admin/usage), its roll-up into the database, and the monthly quota."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from tenants import usage
from tenants.models import Tenant, UsageDay
from tests.api.calls import API_DB, claim, create, get, post
from tests.api.test_openapi import assert_matches

pytestmark = API_DB


@pytest.fixture(autouse=True)
def _send_request_counts_at_once(settings) -> None:
    settings.CODEQ_USAGE_FLUSH_SECONDS = 0


async def today_row(http, token, want_requests: int) -> dict:
    """Today's row once the request counts sent in the background have arrived."""
    deadline = time.monotonic() + 10
    while True:
        r = await get(http, "/admin/usage", token)
        assert r.status_code == 200, r.text
        row = r.json()["days"][-1]
        if row["apiRequests"] >= want_requests:
            return r.json()
        assert time.monotonic() < deadline, row
        await asyncio.sleep(0.1)


async def test_usage_counts_each_outcome_requests_and_payload_bytes(http, tenant, producer_bearer, worker_bearer,
                                                                    admin_bearer):  # fmt: skip
    for n in range(3):
        await create(http, producer_bearer, "resize", {"n": n})
    await create(http, producer_bearer, "mail", "hi", maxAttempts=1)
    done = await claim(http, worker_bearer, "resize")
    failed = await claim(http, worker_bearer, "resize")
    dead = await claim(http, worker_bearer, "mail")
    await post(http, f"/tasks/{done['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {"ok": 1}})
    await post(http, f"/tasks/{failed['id']}/result", worker_bearer, {"status": "FAILED", "error": "bad"})
    await post(http, f"/tasks/{dead['id']}/nack", worker_bearer, {"reason": "no"})

    report = await today_row(http, admin_bearer, want_requests=10)

    assert report["tenant"] == "acme" and report["quota"] is None and len(report["days"]) == 30
    today = report["days"][-1]
    payload_bytes = 3 * len('{"n":0}') + len('"hi"')
    assert today == {"day": today["day"], "tasksCreated": 4, "tasksCompleted": 1, "tasksFailed": 1,
                     "tasksDeadLettered": 1, "apiRequests": 10, "payloadBytes": payload_bytes}  # fmt: skip
    assert all(day["tasksCreated"] == 0 for day in report["days"][:-1])


async def test_the_roll_up_writes_absolute_totals_so_running_it_again_changes_nothing(http, tenant, producer_bearer,
                                                                                      admin_bearer):  # fmt: skip
    await create(http, producer_bearer)
    await sync_to_async(usage.roll_up)()
    await create(http, producer_bearer)
    await sync_to_async(usage.roll_up)()  # a crash after the first run: the second writes the totals again
    await sync_to_async(usage.roll_up)(time.time() + 86400)  # the next day closes today

    row = await sync_to_async(UsageDay.objects.get)(tenant=tenant)
    assert (row.tasks_created, row.payload_bytes) == (2, 2 * len('{"n":1}'))
    report = await today_row(http, admin_bearer, want_requests=2)
    assert report["days"][-1]["tasksCreated"] == 2


async def test_a_range_is_read_from_the_rolled_up_rows_and_checked(http, tenant, admin_bearer, producer_bearer):
    await sync_to_async(UsageDay.objects.create)(tenant=tenant, day="2025-01-02", tasks_created=7, api_requests=9)
    r = await get(http, "/admin/usage?from=2025-01-01&to=2025-01-03", admin_bearer)
    assert [(d["day"], d["tasksCreated"], d["apiRequests"]) for d in r.json()["days"]] == [
        ("2025-01-01", 0, 0), ("2025-01-02", 7, 9), ("2025-01-03", 0, 0)]  # fmt: skip

    for query, field in (("from=yesterday", "from"), ("from=2025-02-01&to=2025-01-01", "from"),
                         ("from=2020-01-01&to=2025-01-01", "from"), ("to=2025-13-01", "to")):  # fmt: skip
        r = await get(http, f"/admin/usage?{query}", admin_bearer)
        assert r.status_code == 400 and r.json()["field"] == field, query
    assert (await get(http, "/admin/usage", producer_bearer)).status_code == 403


async def test_a_monthly_quota_answers_429_with_its_reset_time_once_used_up(http, tenant, producer_bearer,
                                                                            admin_bearer):  # fmt: skip
    await sync_to_async(Tenant.objects.filter(pk=tenant.pk).update)(monthly_task_quota=3)
    first = await http.post("/v1/codeq/tasks", json={"command": "a", "payload": 1},
                            headers={"Authorization": f"Bearer {producer_bearer}"})  # fmt: skip
    assert (first.status_code, first.headers["X-Quota-Limit"], first.headers["X-Quota-Remaining"]) == (202, "3", "2")
    r = await post(http, "/tasks/batch", producer_bearer, {"tasks": [{"command": "a", "payload": n} for n in range(3)]})
    assert r.status_code == 429 and r.json()["code"] == "quota_exceeded"
    r = await post(http, "/tasks/batch", producer_bearer, {"tasks": [{"command": "a", "payload": n} for n in range(2)]})
    assert r.status_code == 200 and r.headers["X-Quota-Remaining"] == "0"

    r = await post(http, "/tasks", producer_bearer, {"command": "a", "payload": 1})

    assert r.status_code == 429
    body = r.json()
    assert body["code"] == "quota_exceeded" and body["quotaLimit"] == 3
    _, resets_at = usage.month_days()
    assert body["resetsAt"].startswith(time.strftime("%Y-%m-%dT00:00:00", time.gmtime(resets_at)))
    assert int(r.headers["Retry-After"]) == body["retryAfterSeconds"] > 0
    assert (r.headers["X-Quota-Limit"], r.headers["X-Quota-Remaining"]) == ("3", "0")
    report = (await get(http, "/admin/usage", admin_bearer)).json()
    assert {k: report["quota"][k] for k in ("limit", "used", "remaining")} == {"limit": 3, "used": 3, "remaining": 0}


async def test_the_usage_report_matches_its_published_schema(http, tenant, admin_bearer):
    await sync_to_async(Tenant.objects.filter(pk=tenant.pk).update)(monthly_task_quota=10)
    spec = (await http.get("/v1/codeq/openapi.json")).json()
    report = (await get(http, "/admin/usage?from=2025-01-01&to=2025-01-02", admin_bearer)).json()
    assert_matches(spec, "/v1/codeq/admin/usage", "get", 200, report)
    assert report["quota"]["limit"] == 10


async def test_requests_before_a_quiet_spell_are_counted_without_another_request(http, tenant, producer_bearer,
                                                                                 settings):  # fmt: skip
    settings.CODEQ_USAGE_FLUSH_SECONDS = 0.5
    for _ in range(3):
        await create(http, producer_bearer)
    today = usage.today_number()
    deadline = time.monotonic() + 10
    while (await sync_to_async(usage.store_days)(tenant, [today]))[today]["requests"] < 3:
        assert time.monotonic() < deadline, "the last requests were never sent"
        await asyncio.sleep(0.1)
