"""POST /v1/codeq/admin/queues/{command}/pause and /resume, PUT /admin/queues/{command}/limits."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tenants.models import AuditEntry
from tests.api.calls import API_DB, BASE, claim, create, get, post
from tests.api.conftest import bearer

pytestmark = API_DB


async def put_limits(http, token, command="resize", body=None):
    return await http.put(f"{BASE}/admin/queues/{command}/limits", json=body, headers=bearer(token))


async def audit_actions(tenant) -> list[tuple[str, str, dict]]:
    rows = AuditEntry.objects.filter(tenant=tenant).order_by("id").values_list("action", "target", "detail")
    return await sync_to_async(list)(rows)


async def test_a_paused_command_takes_tasks_but_claims_get_none_until_resumed(
    http, tenant, producer_bearer, worker_bearer, admin_bearer
):
    r = await post(http, "/admin/queues/Resize/pause", admin_bearer)
    assert r.status_code == 200
    assert r.json() == {"command": "resize", "paused": True, "maxInFlight": None}

    task = await create(http, producer_bearer)
    refused = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})
    unnamed = await post(http, "/tasks/claim", worker_bearer, {})
    batch = await post(http, "/tasks/claim/batch", worker_bearer, {"commands": ["resize"], "count": 5})
    assert (refused.status_code, unnamed.status_code, batch.status_code) == (204, 204, 204)

    resumed = await post(http, "/admin/queues/resize/resume", admin_bearer)
    assert resumed.json() == {"command": "resize", "paused": False, "maxInFlight": None}
    assert (await claim(http, worker_bearer))["id"] == task["id"]
    assert [a[:2] for a in await audit_actions(tenant)] == [("queue.pause", "resize"), ("queue.resume", "resize")]


async def test_a_long_poll_on_a_paused_command_wakes_empty(http, producer_bearer, worker_bearer, admin_bearer):
    await post(http, "/admin/queues/resize/pause", admin_bearer)
    await create(http, producer_bearer)
    r = await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"], "waitSeconds": 1})
    assert r.status_code == 204


async def test_the_cap_bounds_tasks_in_flight(http, tenant, producer_bearer, worker_bearer, admin_bearer):
    for _ in range(3):
        await create(http, producer_bearer)

    r = await put_limits(http, admin_bearer, body={"maxInFlight": 1})
    assert r.status_code == 200 and r.json() == {"command": "resize", "paused": False, "maxInFlight": 1}

    held = await claim(http, worker_bearer)
    assert (await post(http, "/tasks/claim", worker_bearer, {"commands": ["resize"]})).status_code == 204
    await post(http, f"/tasks/{held['id']}/result", worker_bearer, {"status": "COMPLETED", "result": {}})
    await claim(http, worker_bearer)

    lifted = await put_limits(http, admin_bearer, body={})
    assert lifted.json()["maxInFlight"] is None
    await claim(http, worker_bearer)
    actions = await audit_actions(tenant)
    assert actions == [
        ("queue.limits", "resize", {"maxInFlight": 1}),
        ("queue.limits", "resize", {"maxInFlight": None}),
    ]


async def test_settings_show_in_the_queue_listing_and_detail(http, producer_bearer, admin_bearer):
    await create(http, producer_bearer)
    await post(http, "/admin/queues/resize/pause", admin_bearer)
    await put_limits(http, admin_bearer, body={"maxInFlight": 4})
    await post(http, "/admin/queues/idle/pause", admin_bearer)

    listing = (await get(http, "/admin/queues", admin_bearer)).json()
    detail = (await get(http, "/admin/queues/resize", admin_bearer)).json()

    assert listing["codeq:q:resize:acme:paused"] == 1
    assert listing["codeq:q:resize:acme:maxInFlight"] == 4
    assert listing["codeq:q:idle:acme:paused"] == 1 and "codeq:q:idle:acme:maxInFlight" not in listing
    assert (detail["paused"], detail["maxInFlight"], detail["ready"]) == (True, 4, 1)


@pytest.mark.parametrize(
    "body", [{"maxInFlight": 0}, {"maxInFlight": -1}, {"maxInFlight": 1_000_001}, {"maxInFlight": "3"},
             {"maxInFlight": 2.5}, {"maxInFlight": True}, [1]],
)  # fmt: skip
async def test_a_bad_cap_is_a_400_naming_the_field(http, admin_bearer, body):
    r = await put_limits(http, admin_bearer, body=body)
    assert r.status_code == 400, r.text
    if isinstance(body, dict):
        assert r.json()["field"] == "maxInFlight"


@pytest.mark.parametrize("path", ["/admin/queues/bad%20name/pause", "/admin/queues/a%2Fb/resume"])
async def test_a_bad_command_name_is_a_400(http, admin_bearer, path):
    r = await post(http, path, admin_bearer)
    assert r.status_code in (400, 404) and r.json()["error"]


async def test_a_foreign_admin_pauses_only_its_own_queue(http, producer_bearer, worker_bearer, foreign_bearer):
    await create(http, producer_bearer)
    await post(http, "/admin/queues/resize/pause", foreign_bearer)
    await claim(http, worker_bearer)
