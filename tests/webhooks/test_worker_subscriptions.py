"""POST /workers/subscriptions, its heartbeat, DELETE and the admin listing (reference §5)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import pytest

from codeq_platform.base import kv
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.webhooks import subscriptions as store
from codeq_platform.webhooks.subscriptions import WorkerSubscription
from tests.api.calls import API_DB, BASE, get, mint, post
from tests.api.conftest import bearer
from tests.api.test_openapi import assert_matches

pytestmark = API_DB

HOOK = "https://workers.example.com/wake"


async def subscribe(http, token, **fields):
    r = await post(http, "/workers/subscriptions", token, {"callbackUrl": HOOK, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def seconds_left(body: dict) -> float:
    return (datetime.fromisoformat(body["expiresAt"]) - datetime.now().astimezone()).total_seconds()


async def listed(http, admin) -> list[dict]:
    r = await get(http, "/admin/workers/subscriptions", admin)
    assert r.status_code == 200, r.text
    return r.json()["subscriptions"]


async def test_a_worker_subscribes_and_gets_an_id_and_an_expiry(http, worker_bearer, admin_bearer):
    body = await subscribe(http, worker_bearer, eventTypes=["Resize", "thumbs"], ttlSeconds=120,
                           deliveryMode="group", groupId="pool-a", minIntervalSeconds=2)  # fmt: skip

    assert set(body) == {"subscriptionId", "expiresAt"}
    assert str(uuid.UUID(body["subscriptionId"])) == body["subscriptionId"]
    assert 118 < seconds_left(body) <= 120
    [shown] = await listed(http, admin_bearer)
    assert shown["subscriptionId"] == body["subscriptionId"]
    assert shown["eventTypes"] == ["resize", "thumbs"] and shown["deliveryMode"] == "group"
    assert shown["groupId"] == "pool-a" and shown["minIntervalSeconds"] == 2 and shown["ttlSeconds"] == 120
    assert shown["callbackUrl"] == HOOK and shown["createdBy"].startswith("token:")


async def test_defaults_are_fanout_every_command_five_minutes_and_five_seconds(http, worker_bearer, admin_bearer):
    body = await subscribe(http, worker_bearer)

    assert 298 < seconds_left(body) <= 300
    [shown] = await listed(http, admin_bearer)
    assert shown["eventTypes"] == [] and shown["deliveryMode"] == "fanout" and shown["groupId"] is None
    assert shown["minIntervalSeconds"] == 5


@pytest.mark.parametrize("event_types", [["*"], ["resize", "*"], []])
async def test_a_star_or_an_empty_list_means_every_command(http, worker_bearer, admin_bearer, event_types):
    await subscribe(http, worker_bearer, eventTypes=event_types)
    [shown] = await listed(http, admin_bearer)
    assert shown["eventTypes"] == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/wake", "http://10.0.0.1/wake", "http://169.254.169.254/x",
                                 "http://[::1]/wake"])  # fmt: skip
async def test_a_private_address_is_refused_unless_the_deployment_allows_it(http, worker_bearer, settings, url):
    settings.CODEQ_WEBHOOK_ALLOW_PRIVATE = False
    refused = await post(http, "/workers/subscriptions", worker_bearer, {"callbackUrl": url})
    assert refused.status_code == 400 and refused.json()["field"] == "callbackUrl"

    settings.CODEQ_WEBHOOK_ALLOW_PRIVATE = True
    await subscribe(http, worker_bearer, callbackUrl=url)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"callbackUrl": None}, "callbackUrl"),
        ({"callbackUrl": "ftp://example.com/x"}, "callbackUrl"),
        ({"callbackUrl": "https:///no-host"}, "callbackUrl"),
        ({"callbackUrl": "http://example.com:99999/x"}, "callbackUrl"),
        ({"callbackUrl": 42}, "callbackUrl"),
        ({"eventTypes": "resize"}, "eventTypes"),
        ({"eventTypes": ["has space"]}, "eventTypes"),
        ({"eventTypes": [7]}, "eventTypes"),
        ({"ttlSeconds": 0}, "ttlSeconds"),
        ({"ttlSeconds": 86401}, "ttlSeconds"),
        ({"ttlSeconds": "60"}, "ttlSeconds"),
        ({"deliveryMode": "broadcast"}, "deliveryMode"),
        ({"deliveryMode": "group"}, "groupId"),
        ({"deliveryMode": "group", "groupId": ["a"]}, "groupId"),
        ({"minIntervalSeconds": 0}, "minIntervalSeconds"),
        ({"minIntervalSeconds": 3601}, "minIntervalSeconds"),
        ({"minIntervalSeconds": 1.5}, "minIntervalSeconds"),
    ],
)
async def test_every_bad_field_is_a_400_naming_it(http, worker_bearer, admin_bearer, fields, field):
    r = await post(http, "/workers/subscriptions", worker_bearer, {"callbackUrl": HOOK, **fields})

    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["code"] == "invalid_input" and r.json()["error"]
    assert await listed(http, admin_bearer) == []


async def test_a_body_that_is_not_an_object_is_a_400(http, worker_bearer):
    r = await http.post(f"{BASE}/workers/subscriptions", content=b"[1]", headers=bearer(worker_bearer))
    assert r.status_code == 400 and r.json()["error"] == "invalid body"


async def test_a_producer_may_not_subscribe(http, producer_bearer):
    r = await post(http, "/workers/subscriptions", producer_bearer, {"callbackUrl": HOOK})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


async def test_a_heartbeat_extends_the_subscription(http, worker_bearer):
    sub = await subscribe(http, worker_bearer, ttlSeconds=60)

    r = await post(http, f"/workers/subscriptions/{sub['subscriptionId']}/heartbeat", worker_bearer,
                   {"ttlSeconds": 600})  # fmt: skip

    assert r.status_code == 200, r.text
    assert r.json()["subscriptionId"] == sub["subscriptionId"]
    assert 598 < seconds_left(r.json()) <= 600


async def test_a_heartbeat_without_ttl_extends_by_the_subscriptions_own_ttl(http, worker_bearer):
    sub = await subscribe(http, worker_bearer, ttlSeconds=90)
    r = await post(http, f"/workers/subscriptions/{sub['subscriptionId']}/heartbeat", worker_bearer)
    assert r.status_code == 200 and 88 < seconds_left(r.json()) <= 90


async def test_a_heartbeat_with_a_bad_ttl_is_a_400(http, worker_bearer):
    sub = await subscribe(http, worker_bearer)
    r = await post(http, f"/workers/subscriptions/{sub['subscriptionId']}/heartbeat", worker_bearer,
                   {"ttlSeconds": -5})  # fmt: skip
    assert r.status_code == 400 and r.json()["field"] == "ttlSeconds"


async def test_a_subscription_lapses_after_its_ttl_and_a_heartbeat_then_is_404(http, worker_bearer, admin_bearer):
    lapsing = await subscribe(http, worker_bearer, ttlSeconds=1)
    kept = await subscribe(http, worker_bearer, ttlSeconds=1)
    await asyncio.sleep(0.5)
    r = await post(http, f"/workers/subscriptions/{kept['subscriptionId']}/heartbeat", worker_bearer,
                   {"ttlSeconds": 30})  # fmt: skip
    assert r.status_code == 200
    await asyncio.sleep(0.7)

    late = await post(http, f"/workers/subscriptions/{lapsing['subscriptionId']}/heartbeat", worker_bearer)

    assert late.status_code == 404 and late.json()["code"] == "not-found"
    assert [s["subscriptionId"] for s in await listed(http, admin_bearer)] == [kept["subscriptionId"]]


@pytest.mark.parametrize("subscription_id", [str(uuid.uuid4()), "not-a-uuid"])
async def test_an_unknown_subscription_is_404(http, worker_bearer, subscription_id):
    r = await post(http, f"/workers/subscriptions/{subscription_id}/heartbeat", worker_bearer)
    assert r.status_code == 404 and r.json()["error"] == "subscription not found"


@pytest.fixture
def foreign_worker(foreign_tenant) -> str:
    return mint(foreign_tenant, "worker")


async def test_another_tenants_subscription_is_404_like_a_missing_one(http, worker_bearer, foreign_worker,
                                                                      foreign_bearer, admin_bearer):  # fmt: skip
    sub = await subscribe(http, worker_bearer)

    heartbeat = await post(http, f"/workers/subscriptions/{sub['subscriptionId']}/heartbeat", foreign_worker)
    removal = await http.delete(f"{BASE}/workers/subscriptions/{sub['subscriptionId']}", headers=bearer(foreign_worker))

    assert heartbeat.status_code == 404 and heartbeat.json()["error"] == "subscription not found"
    assert removal.status_code == 404
    assert len(await listed(http, admin_bearer)) == 1
    assert await listed(http, foreign_bearer) == []


async def test_a_worker_removes_its_subscription_early(http, worker_bearer, admin_bearer):
    sub = await subscribe(http, worker_bearer)

    r = await http.delete(f"{BASE}/workers/subscriptions/{sub['subscriptionId']}", headers=bearer(worker_bearer))

    assert r.status_code == 204 and r.content == b""
    assert await listed(http, admin_bearer) == []
    again = await http.delete(f"{BASE}/workers/subscriptions/{sub['subscriptionId']}", headers=bearer(worker_bearer))
    assert again.status_code == 404
    heartbeat = await post(http, f"/workers/subscriptions/{sub['subscriptionId']}/heartbeat", worker_bearer)
    assert heartbeat.status_code == 404


async def test_only_admins_list_subscriptions(http, worker_bearer):
    r = await get(http, "/admin/workers/subscriptions", worker_bearer)
    assert r.status_code == 403


async def test_the_openapi_schema_documents_the_routes_and_their_answers(http, worker_bearer, admin_bearer):
    spec = (await http.get(f"{BASE}/openapi.json")).json()
    sub = await subscribe(http, worker_bearer, deliveryMode="group", groupId="g")
    beat = await post(http, f"/workers/subscriptions/{sub['subscriptionId']}/heartbeat", worker_bearer)
    listing = await get(http, "/admin/workers/subscriptions", admin_bearer)

    assert_matches(spec, f"{BASE}/workers/subscriptions", "post", 200, sub)
    assert_matches(spec, f"{BASE}/workers/subscriptions/{{subscription_id}}/heartbeat", "post", 200, beat.json())
    assert_matches(spec, f"{BASE}/admin/workers/subscriptions", "get", 200, listing.json())
    assert "delete" in spec["paths"][f"{BASE}/workers/subscriptions/{{subscription_id}}"]


async def test_a_tenant_has_at_most_a_thousand_live_subscriptions(http, worker_bearer, tenant, settings):
    keys = SubscriptionKeys(settings.CODEQ_KV_PREFIX, tenant.slug)
    now_ms = int(time.time() * 1000)
    await asyncio.gather(*(
        store.subscribe(kv.async_engine().link, keys, WorkerSubscription(
            id=str(uuid.uuid4()), callback_url=HOOK, event_types=(), delivery_mode="fanout", group_id="",
            min_interval_seconds=5, ttl_seconds=60, created_ms=now_ms, created_by="test", expires_ms=now_ms + 60_000,
        ), now_ms=now_ms)
        for _ in range(store.MAX_PER_TENANT - 1)
    ))  # fmt: skip
    last = await subscribe(http, worker_bearer)

    r = await post(http, "/workers/subscriptions", worker_bearer, {"callbackUrl": HOOK})

    assert r.status_code == 409 and r.json()["code"] == "conflict"
    removed = await http.delete(f"{BASE}/workers/subscriptions/{last['subscriptionId']}", headers=bearer(worker_bearer))
    assert removed.status_code == 204
    await subscribe(http, worker_bearer)
