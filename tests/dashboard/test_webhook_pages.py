"""The webhooks pages: admins only; the secret shown once; edit, rotate and delete, each audited."""

from __future__ import annotations

import pytest

from codeq_platform.base import kv
from codeq_platform.webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription
from tenants.models import INTERNAL_TENANT_SLUG, AuditEntry
from tests.dashboard.forms import login_as, submit
from tests.factories import WebhookSubscriptionFactory


def url(tenant, sub=None) -> str:
    return f"/dashboard/t/{tenant.slug}/webhooks/" + (f"{sub.pk}/" if sub else "")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_see_or_change_webhooks(tenant, role):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    client = login_as(tenant, role)
    assert client.get(url(tenant)).status_code == 403
    assert client.get(url(tenant, sub)).status_code == 403
    client.get(f"/dashboard/t/{tenant.slug}/audit/")
    assert submit(client, url(tenant, sub), {"action": "delete", "confirmed": "yes"}).status_code == 403
    assert WebhookSubscription.objects.filter(pk=sub.pk).exists()


def test_another_tenants_subscription_is_not_found(tenant, foreign_tenant):
    theirs = WebhookSubscriptionFactory(tenant=foreign_tenant)
    admin = login_as(tenant, "admin")
    assert admin.get(url(tenant, theirs)).status_code == 404
    assert submit(admin, url(tenant, theirs), {"action": "delete", "confirmed": "yes"}).status_code == 404
    assert WebhookSubscription.objects.filter(pk=theirs.pk).exists()


def test_creating_redirects_then_shows_the_secret_once(tenant):
    admin = login_as(tenant, "admin", username="ada")
    data = {"url": "https://hooks.example.com/in", "events": ["task.completed", "task.dead"], "commands": "a, b"}
    created = submit(admin, url(tenant), data)
    assert (created.status_code, created["Location"]) == (302, url(tenant))
    page = admin.get(url(tenant))
    sub = WebhookSubscription.objects.get(tenant=tenant)
    assert (sub.events, sub.commands) == (["task.completed", "task.dead"], ["a", "b"])
    assert sub.secret in page.content.decode()
    assert sub.secret not in admin.get(url(tenant)).content.decode()
    assert AuditEntry.objects.get(tenant=tenant, action="webhook.create").actor == "ada"


def test_a_subscription_needs_an_event_and_a_url(tenant):
    page = submit(login_as(tenant, "admin"), url(tenant), {"url": "not a url", "events": []})
    assert page.status_code == 400
    text = page.content.decode()
    assert "Enter a valid URL." in text and "This field is required." in text
    assert not WebhookSubscription.objects.exists()


def test_editing_changes_events_and_pauses(tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    admin = login_as(tenant, "admin")
    data = {"action": "update", "url": "https://hooks.example.com/new", "events": ["task.failed"], "commands": ""}
    done = submit(admin, url(tenant, sub), data, follow=True)
    assert "Saved the subscription." in done.content.decode()
    sub.refresh_from_db()
    assert (sub.url, sub.events, sub.active) == ("https://hooks.example.com/new", ["task.failed"], False)
    assert AuditEntry.objects.get(tenant=tenant, action="webhook.update").target == "https://hooks.example.com/new"


def test_rotating_shows_the_new_secret_and_keeps_the_old_one_for_the_grace(tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    old = sub.secret
    admin = login_as(tenant, "admin")
    page = submit(admin, url(tenant, sub), {"action": "rotate", "grace_seconds": "3600"}, follow=True)
    sub.refresh_from_db()
    assert sub.secret != old and sub.secret in page.content.decode()
    assert sub.secret not in admin.get(url(tenant, sub)).content.decode()
    assert sub.signing_secrets() == [sub.secret, old]


def test_deleting_asks_first(tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    admin = login_as(tenant, "admin")
    confirm = submit(admin, url(tenant, sub), {"action": "delete"})
    assert "Delete this webhook subscription?" in confirm.content.decode()
    assert WebhookSubscription.objects.filter(pk=sub.pk).exists()
    done = submit(admin, url(tenant, sub), {"action": "delete", "confirmed": "yes"}, follow=True)
    assert f"Deleted the subscription to {sub.url}." in done.content.decode()
    assert not WebhookSubscription.objects.filter(pk=sub.pk).exists()
    assert AuditEntry.objects.filter(tenant=tenant, action="webhook.delete").exists()


def test_recent_deliveries_show_status_code_and_latency(tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    delivery = Delivery.objects.create(tenant=tenant, subscription=sub, kind="event", event_type="task.dead",
                                       task_id="t-1", url=sub.url, body="{}", status="retrying", attempts=2,
                                       max_attempts=5)  # fmt: skip
    DeliveryAttempt.objects.create(delivery=delivery, number=1, ok=False, status_code=500, latency_ms=80)
    DeliveryAttempt.objects.create(delivery=delivery, number=2, ok=False, status_code=503, latency_ms=42)
    admin = login_as(tenant, "admin")
    text = admin.get(url(tenant, sub)).content.decode()
    assert "task.dead" in text and "503" in text and "42 ms" in text and "2/5" in text
    assert "503" in admin.get(url(tenant)).content.decode()


def test_send_test_event_queues_a_delivery_and_audits_it(tenant, django_capture_on_commit_callbacks):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    with django_capture_on_commit_callbacks(execute=True):  # the send is queued once the row is committed
        done = submit(login_as(tenant, "admin", username="ada"), url(tenant, sub), {"action": "test"}, follow=True)
    assert "Queued a test event" in done.content.decode()
    delivery = Delivery.objects.get(subscription=sub)
    assert (delivery.kind, delivery.status, delivery.url) == ("test", "pending", sub.url)
    assert "webhook.test" in done.content.decode()
    queued = kv.sync_engine().queue_stats(INTERNAL_TENANT_SLUG, "webhook.deliver")
    assert queued.ready == 1
    entry = AuditEntry.objects.get(tenant=tenant, action="webhook.test")
    assert entry.actor == "ada" and entry.detail["deliveryId"] == str(delivery.id)


@pytest.mark.django_db(transaction=True)  # the send is queued on commit: a real one
def test_with_the_store_down_a_test_event_or_redelivery_answers_503_and_leaves_nothing_stuck(tenant, settings):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    finished = _finished_delivery(tenant, sub)
    admin = login_as(tenant, "admin")
    admin.get(url(tenant, sub))
    real_url = settings.CODEQ_KV_URL
    settings.CODEQ_KV_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    kv.reset()
    try:
        assert submit(admin, url(tenant, sub), {"action": "test"}).status_code == 503
        redelivery = submit(admin, url(tenant, sub), {"action": "redeliver", "delivery": str(finished.id)})
        assert redelivery.status_code == 503
    finally:
        settings.CODEQ_KV_URL = real_url
        kv.reset()
    # the test event asked for is recorded, and ended: nothing would ever send it
    assert sorted(Delivery.objects.filter(subscription=sub).values_list("kind", "status")) == [
        ("event", "dead"),
        ("test", "dead"),
    ]
    assert not AuditEntry.objects.filter(action="webhook.redeliver").exists()


def _finished_delivery(tenant, sub, status="dead"):
    return Delivery.objects.create(tenant=tenant, subscription=sub, kind="event", event_type="task.dead", task_id="t-9",
                                   url=sub.url, body="{}", status=status, attempts=5, max_attempts=5)  # fmt: skip


def test_redeliver_sends_a_finished_delivery_again(tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    delivery = _finished_delivery(tenant, sub)
    done = submit(login_as(tenant, "admin"), url(tenant, sub), {"action": "redeliver", "delivery": str(delivery.id)},
                  follow=True)  # fmt: skip
    assert "Queued the delivery again" in done.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert kv.sync_engine().queue_stats(INTERNAL_TENANT_SLUG, "webhook.deliver").ready == 1
    assert AuditEntry.objects.get(tenant=tenant, action="webhook.redeliver").task_ids == ["t-9"]


def test_a_delivery_still_in_flight_is_not_redelivered(tenant):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    delivery = _finished_delivery(tenant, sub, status="retrying")
    done = submit(login_as(tenant, "admin"), url(tenant, sub), {"action": "redeliver", "delivery": str(delivery.id)},
                  follow=True)  # fmt: skip
    assert "This delivery is still being sent; redeliver it once it has finished." in done.content.decode()
    assert kv.sync_engine().queue_stats(INTERNAL_TENANT_SLUG, "webhook.deliver").ready == 0


def test_another_tenants_delivery_cannot_be_redelivered_from_here(tenant, foreign_tenant):
    ours = WebhookSubscriptionFactory(tenant=tenant)
    theirs = _finished_delivery(foreign_tenant, WebhookSubscriptionFactory(tenant=foreign_tenant))
    admin = login_as(tenant, "admin")
    for delivery_id in (str(theirs.id), "not-a-uuid"):
        response = submit(admin, url(tenant, ours), {"action": "redeliver", "delivery": delivery_id})
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "dead"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_send_test_events_or_redeliver(tenant, role):
    sub = WebhookSubscriptionFactory(tenant=tenant)
    delivery = _finished_delivery(tenant, sub)
    client = login_as(tenant, role)
    client.get(f"/dashboard/t/{tenant.slug}/audit/")
    assert submit(client, url(tenant, sub), {"action": "test"}).status_code == 403
    assert submit(client, url(tenant, sub), {"action": "redeliver", "delivery": str(delivery.id)}).status_code == 403
    assert Delivery.objects.count() == 1


def test_the_list_is_paginated_and_its_last_deliveries_cost_the_same_queries_at_any_size(
    tenant, django_assert_max_num_queries
):
    subs = WebhookSubscriptionFactory.create_batch(55, tenant=tenant)
    for sub in subs:
        delivery = Delivery.objects.create(tenant=tenant, subscription=sub, kind="event", event_type="task.dead",
                                           task_id="t-1", url=sub.url, body="{}", status="dead", attempts=1,
                                           max_attempts=1)  # fmt: skip
        DeliveryAttempt.objects.create(delivery=delivery, number=1, ok=False, status_code=410, latency_ms=7)
    admin = login_as(tenant, "admin")

    with django_assert_max_num_queries(15):
        first = admin.get(url(tenant)).content.decode()
    second = admin.get(url(tenant), {"page": 2}).content.decode()

    assert first.count("/codeq/") == 50 and second.count("/codeq/") == 5
    assert first.count(">410<") == 50 and "Page 1 of 2" in first and "Page 2 of 2" in second
