"""The self-service routes of deliveries: list, test event, redeliver, reactivation and the tenant's
signing secret, with a real dispatcher sending to receivers on 127.0.0.1."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import transaction
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from codeq_platform.base import kv
from codeq_platform.webhooks import deliveries
from codeq_platform.webhooks.models import Delivery
from codeq_platform.webhooks.secrets import tenant_secrets
from tenants.models import INTERNAL_TENANT_SLUG, AuditEntry
from tests.factories import WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db(
    transaction=True,
    available_apps=[
        "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles", "rest_framework",
        "drf_spectacular", "drf_spectacular_sidecar", "tenants", "codeq_platform.webhooks",
    ],
)  # fmt: skip

BASE = "/v1/codeq/admin/webhooks"


@pytest.fixture(autouse=True)
def _private_targets_allowed(settings) -> None:
    settings.CODEQ_WEBHOOK_ALLOW_PRIVATE = True


def client(token: str) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return c


def settled(delivery_id, statuses=("delivered", "dead")) -> Delivery:
    for _ in range(100):
        delivery = Delivery.objects.get(pk=delivery_id)
        if delivery.status in statuses:
            return delivery
        time.sleep(0.05)
    raise AssertionError(f"delivery {delivery_id} is still {delivery.status}")


def test_a_test_event_reaches_even_a_paused_subscription_signed_with_its_secret(
    admin_bearer, tenant, receiver, dispatcher
):
    sub = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url(), active=False, paused_reason="too many")
    r = client(admin_bearer).post(f"{BASE}/{sub.pk}/test")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    [request] = receiver.wait_for(1)
    body = Webhook(sub.secret).verify(request.body, request.headers)
    assert body["type"] == "webhook.test" and body["data"] == {"subscriptionId": sub.pk}
    settled(r.json()["deliveryId"])
    [listed] = client(admin_bearer).get(f"{BASE}/{sub.pk}/deliveries").json()["deliveries"]
    assert (listed["id"], listed["kind"], listed["status"]) == (r.json()["deliveryId"], "test", "delivered")
    [attempt] = listed["attemptLog"]
    assert attempt["ok"] and attempt["statusCode"] == 200 and attempt["responseBody"] == '{"ok":true}'
    assert attempt["latencyMs"] >= 0
    audit = AuditEntry.objects.get(tenant=tenant, action="webhook.test")
    assert audit.actor.startswith("token:") and audit.detail["deliveryId"] == r.json()["deliveryId"]


def test_a_test_event_is_sent_even_when_its_delivery_commits_after_the_dispatcher_looked(tenant, receiver,
                                                                                           dispatcher):  # fmt: skip
    sub = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url())
    engine = kv.sync_engine()

    with transaction.atomic():  # the request's commit comes late, as on a loaded database
        delivery = deliveries.send_test_event(subscription=sub, actor="alice")
        idle = time.monotonic()  # until the dispatcher has dealt with everything queued so far
        while (s := engine.queue_stats(INTERNAL_TENANT_SLUG, deliveries.COMMAND)).ready or s.in_flight or s.delayed:
            assert time.monotonic() - idle < 60, "the dispatcher never took the send"
            time.sleep(0.05)

    assert len(receiver.wait_for(1, timeout=60)) == 1
    assert settled(delivery.id).status == "delivered"


def test_a_test_event_the_store_refuses_is_a_503_and_ends_dead_not_pending(admin_bearer, tenant, settings):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    tenant.requests_per_second = 0  # no rate limit, so the request reaches the send, which the store refuses
    tenant.save()
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    try:
        assert client(admin_bearer).post(f"{BASE}/{sub.pk}/test").status_code == 503
    finally:
        settings.CODEQ_KV_URL = real_url
        kv.reset()

    [delivery] = Delivery.objects.filter(subscription=sub)
    assert delivery.status == "dead"
    redeliver = client(admin_bearer).post(f"{BASE}/deliveries/{delivery.id}/redeliver")
    assert redeliver.status_code == 202


def test_deliveries_are_listed_newest_first_page_by_page(admin_bearer, tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    sent = [client(admin_bearer).post(f"{BASE}/{sub.pk}/test").json()["deliveryId"] for _ in range(3)]
    first = client(admin_bearer).get(f"{BASE}/{sub.pk}/deliveries", {"limit": 2}).json()
    second = client(admin_bearer).get(f"{BASE}/{sub.pk}/deliveries", {"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [d["id"] for d in first["deliveries"] + second["deliveries"]] == list(reversed(sent))
    assert "nextCursor" not in second


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "nope"},
                                   {"cursor": "99999999999999999999999:x"}])  # fmt: skip
def test_bad_paging_is_a_400(admin_bearer, tenant, query):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    r = client(admin_bearer).get(f"{BASE}/{sub.pk}/deliveries", query)
    assert r.status_code == 400 and r.json()["error"]


def test_redeliver_sends_a_dead_delivery_again_under_the_same_id(admin_bearer, tenant, receiver, dispatcher):
    receiver.script = [500, 200]
    sub = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url())
    delivery_id = client(admin_bearer).post(f"{BASE}/{sub.pk}/test").json()["deliveryId"]
    assert settled(delivery_id).status == "dead"
    r = client(admin_bearer).post(f"{BASE}/deliveries/{delivery_id}/redeliver")
    assert r.status_code == 202
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    delivery = settled(delivery_id, statuses=("delivered",))
    detail = client(admin_bearer).get(f"{BASE}/deliveries/{delivery_id}").json()
    assert [(a["number"], a["statusCode"]) for a in detail["attemptLog"]] == [(1, 500), (2, 200)]
    assert delivery.attempts == 2
    assert AuditEntry.objects.filter(tenant=tenant, action="webhook.redeliver").exists()


def test_a_delivery_still_being_sent_cannot_be_redelivered(admin_bearer, tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    delivery_id = client(admin_bearer).post(f"{BASE}/{sub.pk}/test").json()["deliveryId"]
    r = client(admin_bearer).post(f"{BASE}/deliveries/{delivery_id}/redeliver")
    assert (
        r.status_code == 409
        and r.json()["error"] == "this delivery is still being sent; redeliver it once it has finished"
    )


def test_a_redelivery_refused_by_a_store_that_is_down_can_be_asked_again(admin_bearer, tenant, settings):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    delivery = Delivery.objects.create(tenant=tenant, subscription=sub, kind="event", event_type="task.dead",
                                       task_id="t-1", url=sub.url, body="{}", status="dead", attempts=8,
                                       max_attempts=8)  # fmt: skip
    redeliver = f"{BASE}/deliveries/{delivery.id}/redeliver"
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    try:
        assert client(admin_bearer).post(redeliver).status_code == 503
    finally:
        settings.CODEQ_KV_URL = real_url
        kv.reset()
    delivery.refresh_from_db()
    assert delivery.status == "dead" and not AuditEntry.objects.filter(action="webhook.redeliver").exists()

    assert client(admin_bearer).post(redeliver).status_code == 202
    assert kv.sync_engine().queue_stats(INTERNAL_TENANT_SLUG, "webhook.deliver").ready == 1


def test_another_tenants_or_a_missing_delivery_is_404(admin_bearer, foreign_bearer, tenant, foreign_tenant):
    foreign_sub = WebhookSubscriptionFactory(tenant=foreign_tenant)
    foreign_id = client(foreign_bearer).post(f"{BASE}/{foreign_sub.pk}/test").json()["deliveryId"]
    for path in (f"deliveries/{foreign_id}", f"deliveries/{uuid.uuid4()}", f"{foreign_sub.pk}/deliveries"):
        assert client(admin_bearer).get(f"{BASE}/{path}").status_code == 404
    assert client(admin_bearer).post(f"{BASE}/deliveries/{foreign_id}/redeliver").status_code == 404
    assert client(admin_bearer).post(f"{BASE}/{foreign_sub.pk}/test").status_code == 404


def test_only_admins_see_and_send_deliveries(worker_bearer, producer_bearer, tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    for token in (worker_bearer, producer_bearer):
        assert client(token).get(f"{BASE}/{sub.pk}/deliveries").status_code == 403
        assert client(token).post(f"{BASE}/{sub.pk}/test").status_code == 403
        assert client(token).post(f"{BASE}/signing-secret/rotate", {}, format="json").status_code == 403


def test_reactivating_a_paused_subscription_clears_the_reason(admin_bearer, tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant, active=False, paused_reason="paused after 5 consecutive failed")
    r = client(admin_bearer).patch(f"{BASE}/{sub.pk}", {"active": True}, format="json")
    assert r.status_code == 200
    assert (r.json()["active"], r.json()["pausedReason"]) == (True, "")
    assert r.json()["url"] == sub.url and r.json()["events"] == sub.events


@pytest.mark.parametrize("body", [{"events": []}, {"events": ["task.nope"]}, {"url": "ftp://x"}, {"active": "maybe"}])
def test_bad_changes_are_a_400_and_change_nothing(admin_bearer, tenant, body):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    r = client(admin_bearer).patch(f"{BASE}/{sub.pk}", body, format="json")
    assert r.status_code == 400 and r.json()["error"]
    sub.refresh_from_db()
    assert sub.events == ["task.completed"] and sub.active


def test_rotating_the_tenant_signing_secret_shows_the_new_secret_once(admin_bearer, tenant):
    [old] = tenant_secrets(tenant.pk)
    r = client(admin_bearer).post(f"{BASE}/signing-secret/rotate", {"graceSeconds": 600}, format="json")
    assert r.status_code == 200
    new = r.json()["secret"]
    assert new.startswith("whsec_") and r.json()["previousSecretExpiresAt"]
    assert tenant_secrets(tenant.pk) == [new, old]


@pytest.mark.parametrize("grace", [-1, 30 * 86_400 + 1, "60", True])
def test_a_bad_grace_period_is_a_400(admin_bearer, tenant, grace):
    r = client(admin_bearer).post(f"{BASE}/signing-secret/rotate", {"graceSeconds": grace}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "graceSeconds"


def test_a_rotated_subscription_secret_signs_beside_the_old_one_only_during_grace(
    admin_bearer, tenant, receiver, dispatcher
):
    sub = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url())
    old = sub.secret
    new = client(admin_bearer).post(f"{BASE}/{sub.pk}/rotate", {"graceSeconds": 600}, format="json").json()["secret"]
    client(admin_bearer).post(f"{BASE}/{sub.pk}/test")
    [during] = receiver.wait_for(1)
    assert Webhook(old).verify(during.body, during.headers) and Webhook(new).verify(during.body, during.headers)
    newest = client(admin_bearer).post(f"{BASE}/{sub.pk}/rotate", {"graceSeconds": 0}, format="json").json()["secret"]
    client(admin_bearer).post(f"{BASE}/{sub.pk}/test")
    after = receiver.wait_for(2)[1]
    assert Webhook(newest).verify(after.body, after.headers)
    for stale in (old, new):
        with pytest.raises(WebhookVerificationError):
            Webhook(stale).verify(after.body, after.headers)
