"""The worker subscriptions page: the live subscriptions with the time each has left, for operators."""

from __future__ import annotations

import re

from django.test import Client


def subscribe(bearer: str, **fields) -> str:
    body = {"callbackUrl": "https://workers.example.com/wake", **fields}
    r = Client().post("/v1/codeq/workers/subscriptions", body, content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {bearer}")  # fmt: skip
    assert r.status_code == 200, r.content
    return r.json()["subscriptionId"]


def test_live_subscriptions_show_their_commands_mode_and_time_left(member_client, worker_bearer, queues):
    pool = subscribe(worker_bearer, eventTypes=["Resize"], ttlSeconds=120, deliveryMode="group", groupId="pool-a")
    every = subscribe(worker_bearer, ttlSeconds=30)

    page = member_client("operator").get("/dashboard/t/acme/subscriptions/").content.decode()

    assert re.findall(r'data-subscription-id="([^"]+)"', page) == [every, pool]  # soonest to lapse first
    assert "2 live" in page and "pool-a" in page and "<code>resize</code>" in page and "every command" in page
    assert re.search(r'data-expires-ms="\d+" data-expired-text="lapsed"[^>]*>(1 m 59 s|2 m 0 s)<', page)


def test_a_removed_subscription_is_gone_from_the_page(member_client, worker_bearer, queues):
    gone = subscribe(worker_bearer)
    r = Client().delete(f"/v1/codeq/workers/subscriptions/{gone}", HTTP_AUTHORIZATION=f"Bearer {worker_bearer}")
    assert r.status_code == 204

    page = member_client("operator").get("/dashboard/t/acme/subscriptions/").content.decode()

    assert gone not in page and "No live worker subscriptions" in page


def test_viewers_may_not_see_where_workers_run(member_client, worker_bearer, queues):
    subscribe(worker_bearer)
    viewer = member_client("viewer")

    assert viewer.get("/dashboard/t/acme/subscriptions/").status_code == 403
    assert "Worker subscriptions" not in viewer.get("/dashboard/t/acme/").content.decode()
    assert "Worker subscriptions" in member_client("operator").get("/dashboard/t/acme/").content.decode()


def test_another_tenants_subscriptions_stay_hidden(member_client, foreign_bearer, foreign_tenant, queues):
    theirs = subscribe(foreign_bearer)
    page = member_client("admin").get("/dashboard/t/acme/subscriptions/").content.decode()
    assert theirs not in page and "0 live" in page
