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


def test_an_operator_removes_a_subscription_and_its_worker_is_no_longer_woken(member_client, worker_bearer,
                                                                               tenant, queues):  # fmt: skip
    from tenants.models import AuditEntry

    gone, kept = subscribe(worker_bearer), subscribe(worker_bearer)
    operator = member_client("operator")

    r = operator.post(f"/dashboard/t/acme/subscriptions/{gone}/remove/", follow=True)

    page = r.content.decode()
    assert r.redirect_chain[-1][0] == "/dashboard/t/acme/subscriptions/"
    assert "Subscription removed" in page and gone not in page and kept in page
    heartbeat = Client().post(f"/v1/codeq/workers/subscriptions/{gone}/heartbeat", {}, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {worker_bearer}")  # fmt: skip
    assert heartbeat.status_code == 404  # the worker hears that it must subscribe again
    entry = AuditEntry.objects.get(tenant=tenant, action="subscription.remove")
    assert entry.target == gone and entry.actor


def test_removing_a_lapsed_subscription_says_so_and_a_made_up_id_is_a_400(member_client, worker_bearer, queues):
    kept = subscribe(worker_bearer)
    operator = member_client("operator")
    r = operator.post("/dashboard/t/acme/subscriptions/00000000-0000-4000-8000-000000000000/remove/", follow=True)
    assert r.status_code == 200 and "already lapsed or been removed" in r.content.decode()
    r = operator.post("/dashboard/t/acme/subscriptions/not-an-id/remove/")
    assert r.status_code == 400 and "not a subscription id" in r.content.decode()
    assert kept in operator.get("/dashboard/t/acme/subscriptions/").content.decode()


def test_a_viewer_may_not_remove_a_subscription(member_client, worker_bearer, queues):
    kept = subscribe(worker_bearer)
    assert member_client("viewer").post(f"/dashboard/t/acme/subscriptions/{kept}/remove/").status_code == 403
    assert kept in member_client("operator").get("/dashboard/t/acme/subscriptions/").content.decode()
