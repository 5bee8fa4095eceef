"""A suspended tenant as its programs see it: 403 ``tenant_suspended`` on every call, its data kept."""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from tenants import lifecycle
from tests.api.calls import API_DB, create, get, post

pytestmark = API_DB


async def test_a_suspended_tenants_producers_and_workers_are_refused_and_its_tasks_wait(
    http, tenant, producer_bearer, worker_bearer, admin_bearer
):
    created = await create(http, producer_bearer, "resize", {"w": 1})

    await sync_to_async(lifecycle.suspend)(tenant=tenant, actor="staff")

    # Each web process keeps a token's grant for CODEQ_TOKEN_CACHE_SECONDS: the suspension is seen within it.
    deadline = time.monotonic() + settings.CODEQ_TOKEN_CACHE_SECONDS + 5
    while (await post(http, "/tasks", producer_bearer, {"command": "resize", "payload": 1})).status_code == 202:
        assert time.monotonic() < deadline, "the suspension was not seen"
        await asyncio.sleep(0.2)
    for path, token, body in (("/tasks", producer_bearer, {"command": "resize", "payload": 1}),
                              ("/tasks/claim", worker_bearer, {"commands": ["resize"]}),
                              ("/tasks/claim", admin_bearer, {"commands": ["resize"], "waitSeconds": 5})):  # fmt: skip
        r = await post(http, path, token, body)
        assert r.status_code == 403
        assert r.json() == {"error": "tenant suspended", "code": "tenant_suspended"}
    r = await get(http, f"/tasks/{created['id']}", producer_bearer)
    assert r.status_code == 403

    await sync_to_async(lifecycle.reactivate)(tenant=tenant, actor="staff")

    deadline = time.monotonic() + settings.CODEQ_TOKEN_CACHE_SECONDS + 5
    while (r := await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 403:
        assert time.monotonic() < deadline, "the reactivation was not seen"
        await asyncio.sleep(0.2)
    assert r.status_code == 200 and r.json()["id"] == created["id"]
