"""Result callbacks and subscription events, end to end: the engine's outbox, the mover job, the
internal queue and the dispatcher (started on its own thread as the scheduler starts it), delivering
to real receivers on 127.0.0.1 that verify the signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from codeq_platform.base import kv
from codeq_platform.engine import NewTask, Report
from codeq_platform.webhooks import deliveries
from codeq_platform.webhooks.deliveries import INTERNAL_TENANT, RetryPolicy, move_outbox
from codeq_platform.webhooks.dispatcher import Dispatcher
from codeq_platform.webhooks.models import Delivery, DeliveryAttempt
from codeq_platform.webhooks.secrets import rotate_tenant_secret, tenant_secrets
from tenants.services import create_tenant
from tests.api.calls import claim, create, post
from tests.factories import WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db(
    transaction=True,
    available_apps=[
        "django.contrib.contenttypes", "django.contrib.auth", "django.contrib.staticfiles", "rest_framework",
        "drf_spectacular", "drf_spectacular_sidecar", "tenants", "codeq_platform.webhooks",
    ],
)  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_webhooks(settings) -> None:
    """Receivers listen on 127.0.0.1 (as ``make run`` allows); retries wait milliseconds, not seconds."""
    settings.CODEQ_WEBHOOK_ALLOW_PRIVATE = True
    settings.CODEQ_WEBHOOK_CALLBACK_BASE_SECONDS = 0.05
    settings.CODEQ_WEBHOOK_EVENT_BASE_SECONDS = 0.05


def engine(tenant):
    kv.register_tenant(tenant.slug, tenant.shards)
    return kv.sync_engine()


def finish(tenant, command="render", *, ok=True, **spec):
    """A task of ``tenant`` created, claimed and reported; returns its id."""
    eng = engine(tenant)
    task = eng.enqueue(tenant.slug, NewTask(command, {"n": 1}, **spec)).task
    [held] = eng.claim(tenant.slug, "w", [command])
    assert held.id == task.id
    if ok:
        eng.complete(tenant.slug, task.id, "w", {"size": 640})
    else:
        eng.fail(tenant.slug, task.id, "w", "bad input")
    return task.id


def move_until(receiver, count, timeout=10.0):
    """Run the mover job as the scheduler does, until ``count`` requests arrived."""
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count and time.monotonic() < deadline:
        move_outbox()
        time.sleep(0.05)
    return receiver.wait_for(count, timeout=0.5)


def delivery_of(task_id):
    return Delivery.objects.get(task_id=task_id)


async def test_a_result_over_http_calls_the_tasks_webhook_back_with_the_contract_body(
    http, tenant, producer_bearer, worker_bearer, receiver, dispatcher
):
    created = await create(http, producer_bearer, "media.resize", webhook=receiver.url("/done"))
    await claim(http, worker_bearer, "media.resize")
    r = await post(http, f"/tasks/{created['id']}/result", worker_bearer,
                   {"status": "COMPLETED", "result": {"url": "s3://b/cat.jpg"}})  # fmt: skip
    assert r.status_code == 200
    [request] = await sync_to_async(move_until, thread_sensitive=False)(receiver, 1)
    body = json.loads(request.body)
    assert body == {"taskId": created["id"], "eventType": "media.resize", "status": "COMPLETED",
                    "result": {"url": "s3://b/cat.jpg"}, "error": None, "artifacts": [],
                    "completedAt": r.json()["completedAt"]}  # fmt: skip
    assert request.path == "/done"
    [secret] = await sync_to_async(tenant_secrets)(tenant.pk)
    assert Webhook(secret).verify(request.body, request.headers)
    signed = request.headers["X-CodeQ-Timestamp"].encode() + b"." + request.body
    assert request.headers["X-CodeQ-Signature"] == hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_a_failing_receiver_is_retried_until_it_answers(tenant, receiver, dispatcher):
    receiver.script = [500, "close", 200]
    task_id = finish(tenant, webhook=receiver.url())
    requests = move_until(receiver, 3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert {r.body for r in requests} == {requests[0].body}
    delivery = delivery_of(task_id)
    for _ in range(50):
        delivery.refresh_from_db()
        if delivery.status == Delivery.Status.DELIVERED:
            break
        time.sleep(0.05)
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 3
    log = [(a.number, a.ok, a.status_code) for a in delivery.attempt_log.all()]
    assert log == [(1, False, 500), (2, False, None), (3, True, 200)]


def test_a_callback_is_dead_lettered_once_its_attempts_are_spent(tenant, receiver, dispatcher, settings):
    settings.CODEQ_WEBHOOK_CALLBACK_ATTEMPTS = 3
    receiver.script = [503]
    task_id = finish(tenant, webhook=receiver.url())
    move_until(receiver, 3)
    time.sleep(0.5)
    move_outbox()
    assert len(receiver.received) == 3
    delivery = delivery_of(task_id)
    assert delivery.status == Delivery.Status.DEAD and delivery.attempts == 3
    assert engine(tenant).queue_stats(INTERNAL_TENANT, deliveries.COMMAND).dlq == 1


def test_callback_retry_delays_are_the_contracts():
    policy = RetryPolicy(5, 2, 60, jitter=False)
    assert [policy.delay_ms(n) for n in range(1, 7)] == [2000, 4000, 8000, 16000, 32000, 60000]


def test_event_retry_delays_grow_with_jitter_below_their_cap():
    policy = RetryPolicy(8, 5, 900, jitter=True)
    for n, full in ((1, 5000), (3, 20000), (12, 900_000)):
        assert {full // 2 <= policy.delay_ms(n) <= full for _ in range(50)} == {True}


def test_batch_results_and_dead_lettering_call_back_too(tenant, receiver, dispatcher):
    eng = engine(tenant)
    for i in range(3):
        eng.enqueue(tenant.slug, NewTask("render", {"i": i}, webhook=receiver.url(), max_attempts=1))
    a, b, c = eng.claim(tenant.slug, "w", ["render"], count=3)
    eng.settle_batch(tenant.slug, "w", [Report(a.id, completed=True, result={"i": 0}),
                                        Report(b.id, completed=False, error="bad")])  # fmt: skip
    eng.nack(tenant.slug, c.id, "w", reason="gave up")
    bodies = {json.loads(r.body)["taskId"]: json.loads(r.body) for r in move_until(receiver, 3)}
    assert (bodies[a.id]["status"], bodies[a.id]["result"]) == ("COMPLETED", {"i": 0})
    assert (bodies[b.id]["status"], bodies[b.id]["error"]) == ("FAILED", "bad")
    assert (bodies[c.id]["status"], bodies[c.id]["error"], bodies[c.id]["result"]) == ("FAILED", "gave up", None)


def test_subscription_events_match_event_and_command_and_use_the_subscriptions_secret(tenant, receiver, dispatcher):
    sub = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url("/events"), events=["task.failed"],
                                     commands=["Render"])  # fmt: skip
    finish(tenant, "render", ok=True)
    finish(tenant, "other", ok=False)
    failed = finish(tenant, "render", ok=False)
    [request] = move_until(receiver, 1)
    time.sleep(0.3)
    move_outbox()
    assert len(receiver.received) == 1
    body = Webhook(sub.secret).verify(request.body, request.headers)
    assert body["type"] == "task.failed"
    assert body["data"]["taskId"] == failed and body["data"]["status"] == "FAILED"
    assert body["data"]["error"] == "bad input" and body["data"]["command"] == "render"
    with pytest.raises(WebhookVerificationError):
        Webhook(tenant_secrets(tenant.pk)[0]).verify(request.body, request.headers)


def test_moving_the_same_events_again_creates_no_second_delivery(tenant, receiver):
    task_id = finish(tenant, webhook=receiver.url())
    eng = engine(tenant)
    events = eng.outbox([tenant.slug])
    for _ in range(2):  # a mover that dies before acknowledging: the next run moves the same events
        planned = deliveries.plan_deliveries(eng, tenant, events)
        Delivery.objects.bulk_create(planned, ignore_conflicts=True)
        deliveries.enqueue(eng, planned)
    move_outbox()
    assert Delivery.objects.filter(task_id=task_id).count() == 1
    assert eng.queue_stats(INTERNAL_TENANT, deliveries.COMMAND).ready == 1
    assert eng.outbox([tenant.slug]) == []


def test_a_subscription_that_keeps_failing_is_paused_and_then_receives_nothing(tenant, receiver, dispatcher, settings):
    settings.CODEQ_WEBHOOK_EVENT_ATTEMPTS = 1
    settings.CODEQ_WEBHOOK_PAUSE_AFTER_DEAD = 2
    receiver.script = [500]
    sub = WebhookSubscriptionFactory(tenant=tenant, url=receiver.url(), events=["task.completed"])
    finish(tenant)
    finish(tenant)
    move_until(receiver, 2)
    for _ in range(50):
        sub.refresh_from_db()
        if not sub.active:
            break
        time.sleep(0.05)
    assert not sub.active
    assert sub.paused_reason.startswith("paused after 2 consecutive failed deliveries (last: HTTP 500")
    finish(tenant)
    time.sleep(0.3)
    move_outbox()
    time.sleep(0.3)
    assert len(receiver.received) == 2


def test_the_tenant_secret_rotation_signs_with_both_during_grace_and_only_the_new_one_after(
    tenant, receiver, dispatcher
):
    [old] = tenant_secrets(tenant.pk)
    new = rotate_tenant_secret(tenant=tenant, grace_seconds=3600).secret
    finish(tenant, webhook=receiver.url())
    [during] = move_until(receiver, 1)
    assert Webhook(old).verify(during.body, during.headers) and Webhook(new).verify(during.body, during.headers)
    newest = rotate_tenant_secret(tenant=tenant, grace_seconds=0).secret
    finish(tenant, webhook=receiver.url())
    after = move_until(receiver, 2)[1]
    assert Webhook(newest).verify(after.body, after.headers)
    for stale in (old, new):
        with pytest.raises(WebhookVerificationError):
            Webhook(stale).verify(after.body, after.headers)


def test_a_stopping_dispatcher_gives_in_flight_deliveries_back_uncharged(tenant, receiver):
    receiver.script = ["slow:3", 200]
    running = Dispatcher(concurrency=5, timeout=10.0, allow_private=True, grace=0.2)
    running.start()
    finish(tenant, webhook=receiver.url())
    move_until(receiver, 1)
    running.stop()
    stats = engine(tenant).queue_stats(INTERNAL_TENANT, deliveries.COMMAND)
    assert (stats.ready, stats.in_flight) == (1, 0)
    [task] = engine(tenant).ready(INTERNAL_TENANT, deliveries.COMMAND).tasks
    assert task.attempts == 0


def test_the_internal_tenants_slug_is_reserved(db):
    with pytest.raises(ValidationError):
        create_tenant(slug=INTERNAL_TENANT)


def test_a_subscription_makes_the_engine_record_its_events_and_deleting_it_stops_that(tenant):
    eng = engine(tenant)
    finish(tenant)
    assert eng.outbox([tenant.slug]) == []
    sub = WebhookSubscriptionFactory(tenant=tenant, events=["task.completed"])
    done = finish(tenant)
    assert [e.task_id for e in eng.outbox([tenant.slug])] == [done]
    sub.delete()
    finish(tenant)
    assert [e.task_id for e in eng.outbox([tenant.slug])] == [done]


def test_a_callback_to_a_private_address_is_refused_when_the_deployment_does_not_allow_it(tenant, receiver):
    running = Dispatcher(concurrency=2, timeout=2.0, allow_private=False, grace=1)
    running.start()
    try:
        task_id = finish(tenant, webhook=receiver.url(host="localhost"))
        move_outbox()
        for _ in range(100):
            attempt = DeliveryAttempt.objects.filter(delivery__task_id=task_id).first()
            if attempt is not None:
                break
            time.sleep(0.05)
    finally:
        running.stop()
    assert attempt is not None and not attempt.ok and attempt.status_code is None
    assert "non-public address" in attempt.error
    assert receiver.received == []


def test_old_delivery_records_are_pruned_and_recent_ones_kept(tenant, settings):
    settings.CODEQ_WEBHOOK_RETENTION_DAYS = 7
    old = finish(tenant, webhook="https://hooks.example.com/a")
    recent = finish(tenant, webhook="https://hooks.example.com/b")
    move_outbox()
    Delivery.objects.filter(task_id=old).update(updated=timezone.now() - timedelta(days=8))
    assert deliveries.prune() == 1
    assert list(Delivery.objects.values_list("task_id", flat=True)) == [recent]


def test_a_delivery_whose_send_was_dead_lettered_without_being_recorded_ends_dead_and_can_be_redelivered(
    tenant, settings
):
    """A dispatcher killed during the last attempt: the engine dead-letters the send when its lease runs out,
    the row is never told. Retention ends it, so the dashboard stops showing it as retrying."""
    settings.CODEQ_WEBHOOK_CALLBACK_ATTEMPTS = 1
    lost, gone, queued = (finish(tenant, webhook=f"https://hooks.example.com/{n}") for n in "abc")
    move_outbox()
    eng = engine(tenant)
    for held in eng.claim(INTERNAL_TENANT, "killed", [deliveries.COMMAND], count=3):
        if held.id == delivery_of(lost).engine_task_id:
            eng.nack(INTERNAL_TENANT, held.id, "killed")
        else:
            eng.abandon(INTERNAL_TENANT, held.id, "killed")
    eng.delete(INTERNAL_TENANT, delivery_of(gone).engine_task_id)
    assert eng.get_task(INTERNAL_TENANT, delivery_of(lost).engine_task_id).state == "dead"
    deliveries.prune()
    assert {d.status for d in Delivery.objects.all()} == {Delivery.Status.PENDING}, "younger than a lease"

    Delivery.objects.update(updated=timezone.now() - timedelta(minutes=5))
    deliveries.prune()
    assert delivery_of(lost).status == Delivery.Status.DEAD
    assert delivery_of(gone).status == Delivery.Status.DEAD
    assert delivery_of(queued).status == Delivery.Status.PENDING, "its send is still queued"
    redelivered = deliveries.redeliver(delivery=delivery_of(lost), actor="admin")
    assert redelivered.status == Delivery.Status.PENDING and redelivered.engine_task_id != ""
