"""Webhook deliveries as tasks of the platform's internal queue.

A task's terminal transition lands in its shard's outbox (the engine writes it in the same script).
``move_outbox`` (a scheduler job) turns each event into deliveries: the task's own result callback
(reference §7) and one per matching tenant subscription. Each delivery is a ``Delivery`` row (body,
url, kind) plus a task on the reserved tenant ``INTERNAL_TENANT``, whose payload names the row; the
dispatcher leases those tasks, sends, and completes or nacks them, so deliveries inherit leases,
retries and a DLQ from the engine. Delivery ids derive from the event id, and the internal task's
idempotency key is the delivery id, so moving the same event twice creates nothing new.

Retries: result callbacks as §7 (``CODEQ_WEBHOOK_CALLBACK_*``: 5 attempts, 2·2^(n-1) s up to 60 s);
subscription events with exponential backoff and jitter (``CODEQ_WEBHOOK_EVENT_*``). A subscription
whose last ``CODEQ_WEBHOOK_PAUSE_AFTER_DEAD`` event deliveries all went dead is paused, with the
reason shown to the tenant; reactivating it clears the reason.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from codeq_platform.base import kv
from codeq_platform.base.representations import result_json, rfc3339
from codeq_platform.engine import Engine, NewTask, OutboxEvent, State, Task, TaskResult, activity
from codeq_platform.errors import CodeqError, Conflict, NotFound
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription
from codeq_platform.webhooks.outbound import Attempt
from codeq_platform.webhooks.secrets import tenant_secrets
from tenants import selectors
from tenants.models import INTERNAL_TENANT_SLUG, Tenant
from tenants.services import record_audit

log = logging.getLogger("codeq.webhooks")

INTERNAL_TENANT = INTERNAL_TENANT_SLUG
COMMAND = "webhook.deliver"
EVENT_TYPES = {"completed": "task.completed", "failed": "task.failed", "dead": "task.dead"}
TEST_EVENT = "webhook.test"
# The outbox move reads the outboxes of tenants with an operation this recent.
OUTBOX_WINDOW_MS = 60_000
_ID_SPACE = uuid.UUID("5a0d8a4e-3f51-4d57-9a55-6f1f0f6b2c11")
_AGREES = {"completed": {"completed"}, "failed": {"failed", "cancelled"}, "dead": {"dead"}}


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a delivery gets and how long it waits after failed attempt ``n``."""

    attempts: int
    base_seconds: float
    cap_seconds: float
    jitter: bool

    def delay_ms(self, attempt: int) -> int:
        delay = min(self.base_seconds * 2 ** (attempt - 1), self.cap_seconds)
        if self.jitter:  # equal jitter: never much sooner than the backoff, never in lockstep
            delay = random.uniform(delay / 2, delay)
        return int(delay * 1000)


def policy_for(kind: str) -> RetryPolicy:
    if kind == Delivery.Kind.RESULT:
        return RetryPolicy(settings.CODEQ_WEBHOOK_CALLBACK_ATTEMPTS, settings.CODEQ_WEBHOOK_CALLBACK_BASE_SECONDS,
                           settings.CODEQ_WEBHOOK_CALLBACK_CAP_SECONDS, jitter=False)  # fmt: skip
    attempts = 1 if kind == Delivery.Kind.TEST else settings.CODEQ_WEBHOOK_EVENT_ATTEMPTS
    return RetryPolicy(attempts, settings.CODEQ_WEBHOOK_EVENT_BASE_SECONDS, settings.CODEQ_WEBHOOK_EVENT_CAP_SECONDS,
                       jitter=True)  # fmt: skip


def delivery_id(event_id: str, target: str) -> uuid.UUID:
    """The same event to the same target is always the same delivery."""
    return uuid.uuid5(_ID_SPACE, f"{event_id}\n{target}")


def callback_body(task: Task, result: TaskResult | None) -> bytes:
    """§7: ``{taskId, eventType (the command), status, result, error, artifacts, completedAt}``; a
    dead-lettered or cancelled task has no stored result, so it reports FAILED with its error."""
    if result is not None:
        body = result_json(result)
    else:
        body = {"taskId": task.id, "status": "FAILED", "result": None, "error": task.error or None,
                "artifacts": [], "completedAt": rfc3339(task.finished_ms)}  # fmt: skip
    return orjson.dumps({"taskId": body["taskId"], "eventType": task.command, **body})


def event_body(event_type: str, task: Task, result: TaskResult | None, at_ms: int) -> bytes:
    """A subscription event, Standard Webhooks style: ``{type, timestamp, data: task summary}``."""
    data: dict[str, Any] = {
        "taskId": task.id,
        "command": task.command,
        "status": task.status,
        "priority": task.priority,
        "attempts": task.attempts,
        "maxAttempts": task.max_attempts,
        "error": task.error or None,
        "createdAt": rfc3339(task.created_ms),
        "finishedAt": rfc3339(task.finished_ms),
    }
    if result is not None:
        data["result"] = result_json(result)["result"]
    return orjson.dumps({"type": event_type, "timestamp": rfc3339(at_ms), "data": data})


def plan_deliveries(engine: Engine, tenant: Tenant, events: list[OutboxEvent]) -> list[Delivery]:
    """The deliveries one tenant's events call for. An event whose task is gone, or whose record no
    longer shows that outcome (a crash before the record was saved; a dead task replayed since),
    calls for none."""
    out: list[Delivery] = []
    subscribers: dict[tuple[str, str], list[WebhookSubscription]] = {}
    found = engine.get_results(tenant.slug, [event.task_id for event in events])
    for event in events:
        if event.task_id not in found:
            continue
        task, result = found[event.task_id]
        if task.state not in _AGREES[event.kind]:
            continue
        if task.webhook:
            out.append(Delivery(id=delivery_id(event.id, "callback"), tenant=tenant, kind=Delivery.Kind.RESULT,
                                event_type=task.command, task_id=task.id, url=task.webhook,
                                body=callback_body(task, result).decode(),
                                max_attempts=policy_for(Delivery.Kind.RESULT).attempts))  # fmt: skip
        event_type = EVENT_TYPES[event.kind]
        key = (event_type, task.command_key)
        if key not in subscribers:
            subscribers[key] = webhook_selectors.subscriptions_for_event(
                tenant=tenant, event=event_type, command=task.command
            )
        body = event_body(event_type, task, result, event.at_ms).decode() if subscribers[key] else ""
        for sub in subscribers[key]:
            out.append(Delivery(id=delivery_id(event.id, f"subscription:{sub.pk}"), tenant=tenant, subscription=sub,
                                kind=Delivery.Kind.EVENT, event_type=event_type, task_id=task.id, url=sub.url,
                                body=body, max_attempts=policy_for(Delivery.Kind.EVENT).attempts))  # fmt: skip
    return out


def enqueue(engine: Engine, deliveries: list[Delivery], *, priority: int = 0, round_key: str = "") -> None:
    """Queue a send of each delivery on the internal tenant; a delivery already queued for this round
    (same idempotency key) is not queued again."""
    for start in range(0, len(deliveries), 1000):
        chunk = deliveries[start : start + 1000]
        specs = [NewTask(COMMAND, {"deliveryId": str(d.id)}, priority=priority, max_attempts=d.max_attempts,
                         idempotency_key=f"{d.id}{round_key}") for d in chunk]  # fmt: skip
        for delivery, outcome in zip(chunk, engine.enqueue_batch(INTERNAL_TENANT, specs), strict=True):
            if isinstance(outcome, Exception):
                raise outcome
            delivery.engine_task_id = outcome.task.id
        Delivery.objects.bulk_update(chunk, ["engine_task_id"])


def lease_seconds(timeout: float) -> float:
    """How long the dispatcher holds a delivery task: one attempt's timeout and room to record it."""
    return timeout + 30


def move_outbox(limit: int = 500, *, every_tenant: bool = False) -> int:
    """The scheduler job: turn outbox events into queued deliveries, then acknowledge them (at-least-once:
    a crash before the acknowledgement moves them again, to the same deliveries). Returns the events
    moved. Every second it reads the outboxes of the tenants with an operation in the last
    ``OUTBOX_WINDOW_MS`` (events come from operations); once a minute, ``every_tenant``, all of them,
    for events a failed move left behind."""
    engine = kv.sync_engine()
    if every_tenant:
        tenants = {t.slug: t for t in selectors.all_tenants().filter(active=True)}
        for tenant in tenants.values():
            kv.register_tenant(tenant.slug, tenant.shards)
    else:
        since = int(time.time() * 1000) - OUTBOX_WINDOW_MS
        tenants = selectors.active_tenants_among(engine.run(activity.active_since(engine.config.prefix, since)))
        for tenant in tenants.values():
            kv.register_tenant(tenant.slug, tenant.shards)
    groups: dict[tuple[str, int], list[OutboxEvent]] = defaultdict(list)
    for event in engine.outbox(list(tenants), limit=limit):
        groups[(event.tenant, event.shard)].append(event)
    moved = 0
    for (slug, shard), events in groups.items():
        try:
            deliveries = plan_deliveries(engine, tenants[slug], events)
            Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
            enqueue(engine, deliveries)
            engine.outbox_ack(slug, shard, events)
        except CodeqError:
            log.exception("moving webhook events failed for tenant %s shard %s", slug, shard)
            continue
        moved += len(events)
    # The internal tenant has no row, so the regular sweep never sees it: its expired leases and due
    # retries are moved here (the dispatcher's claims also do, a bounded batch at a time).
    engine.sweep(INTERNAL_TENANT)
    return moved


@dataclass(frozen=True)
class Job:
    """What the dispatcher needs to send one delivery; ``skip`` says why it must not be sent."""

    delivery_id: uuid.UUID
    kind: str
    url: str
    body: bytes
    secrets: list[str]
    skip: str = ""


def load_job(delivery_pk: str) -> Job | None:
    """The delivery to send, with the secrets that sign it now; None when the row is gone (its
    subscription was deleted)."""
    delivery = Delivery.objects.select_related("subscription").filter(pk=delivery_pk).first()
    if delivery is None:
        return None
    sub = delivery.subscription
    if sub is not None:
        secrets = sub.signing_secrets()
        skip = "" if sub.active or delivery.kind == Delivery.Kind.TEST else "subscription is paused or inactive"
    else:
        secrets, skip = tenant_secrets(delivery.tenant_id), ""
    return Job(delivery.id, delivery.kind, delivery.url, delivery.body.encode(), secrets, skip)


def record_attempt(delivery_pk: uuid.UUID, attempt: Attempt, *, final: bool) -> None:
    """Keep one attempt and the delivery's new status; a final failure of a subscription's event
    may pause the subscription."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_pk).first()
        if delivery is None:
            return
        delivery.attempts += 1
        DeliveryAttempt.objects.create(
            delivery=delivery, number=delivery.attempts, ok=attempt.ok, status_code=attempt.status_code,
            latency_ms=attempt.latency_ms, error=(attempt.error or "")[:500], response_body=attempt.response_body,
        )  # fmt: skip
        if attempt.ok:
            delivery.status = Delivery.Status.DELIVERED
        else:
            delivery.status = Delivery.Status.DEAD if final else Delivery.Status.RETRYING
        delivery.updated = timezone.now()
        delivery.save(update_fields=["attempts", "status", "updated"])
    if delivery.status == Delivery.Status.DEAD and delivery.kind == Delivery.Kind.EVENT:
        pause_if_failing(delivery.subscription_id)


def give_up(delivery_pk: uuid.UUID, reason: str) -> None:
    """End a delivery unsent (its subscription was paused after it was queued)."""
    Delivery.objects.filter(pk=delivery_pk).update(status=Delivery.Status.DEAD, updated=timezone.now())
    log.info("delivery %s not sent: %s", delivery_pk, reason)


def pause_if_failing(subscription_pk: int | None) -> bool:
    """Pause the subscription when its last ``CODEQ_WEBHOOK_PAUSE_AFTER_DEAD`` finished event
    deliveries all went dead; True if it was paused now."""
    n = settings.CODEQ_WEBHOOK_PAUSE_AFTER_DEAD
    recent = list(
        Delivery.objects.filter(subscription_id=subscription_pk, kind=Delivery.Kind.EVENT,
                                status__in=[Delivery.Status.DELIVERED, Delivery.Status.DEAD])
        .order_by("-updated").values_list("status", flat=True)[:n]
    )  # fmt: skip
    if len(recent) < n or any(status != Delivery.Status.DEAD for status in recent):
        return False
    sub = WebhookSubscription.objects.select_related("tenant").filter(pk=subscription_pk, active=True).first()
    if sub is None:
        return False
    last = DeliveryAttempt.objects.filter(delivery__subscription_id=subscription_pk).order_by("-created").first()
    why = f" (last: {last.error})" if last is not None and last.error else ""
    sub.active = False
    sub.paused_reason = f"paused after {n} consecutive failed deliveries{why}"[:500]
    sub.save(update_fields=["active", "paused_reason"])
    record_audit(tenant=sub.tenant, actor="system", action="webhook.pause", target=sub.url,
                 detail={"subscriptionId": sub.pk, "reason": sub.paused_reason})  # fmt: skip
    return True


def send_test_event(*, subscription: WebhookSubscription, actor: str) -> Delivery:
    """Queue a ``webhook.test`` event to ``subscription`` (sent even while it is paused, one attempt),
    audited under ``actor`` whichever route (API or dashboard) asked.

    The send is queued once the delivery row is committed, never before: a dispatcher quicker than the
    commit would find no row, drop the send, and leave the delivery pending for good. A store that
    refuses the send ends the delivery dead (nothing would ever send it; it can be redelivered) and
    raises ``StoreUnavailable``.
    """
    now_ms = int(time.time() * 1000)
    body = orjson.dumps({"type": TEST_EVENT, "timestamp": rfc3339(now_ms),
                         "data": {"subscriptionId": subscription.pk}}).decode()  # fmt: skip
    with transaction.atomic():
        delivery = Delivery.objects.create(tenant=subscription.tenant, subscription=subscription,
                                           kind=Delivery.Kind.TEST, event_type=TEST_EVENT, url=subscription.url,
                                           body=body, max_attempts=policy_for(Delivery.Kind.TEST).attempts)  # fmt: skip
        record_audit(tenant=subscription.tenant, actor=actor, action="webhook.test", target=subscription.url,
                     detail={"subscriptionId": subscription.pk, "deliveryId": str(delivery.id)})  # fmt: skip
        transaction.on_commit(lambda: _queue_committed(delivery))
    return delivery


def _queue_committed(delivery: Delivery) -> None:
    try:
        enqueue(kv.sync_engine(), [delivery], priority=9)
    except CodeqError:
        give_up(delivery.id, "the queue store refused the send")
        raise


def redeliver(*, delivery: Delivery, actor: str) -> Delivery:
    """Send a finished (delivered or dead) delivery again, same id and body, with a fresh budget of
    attempts; Conflict while it is still being sent.

    The row is locked and the send queued before the new status commits: two requests at once queue one
    send, and a store that is down leaves the delivery finished (so it can be redelivered later) instead
    of pending with nothing queued, which would refuse every later redelivery.
    """
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status not in (Delivery.Status.DELIVERED, Delivery.Status.DEAD):
            raise Conflict("this delivery is still being sent; redeliver it once it has finished")
        delivery.status = Delivery.Status.PENDING
        delivery.max_attempts = policy_for(delivery.kind).attempts
        delivery.updated = timezone.now()
        delivery.save(update_fields=["status", "max_attempts", "updated"])
        record_audit(tenant=delivery.tenant, actor=actor, action="webhook.redeliver", target=delivery.url,
                     task_ids=[delivery.task_id] if delivery.task_id else [],
                     detail={"deliveryId": str(delivery.id)})  # fmt: skip
        enqueue(kv.sync_engine(), [delivery], priority=9, round_key=f":r{delivery.attempts}")
    return delivery


def sync_event_flags(tenant: Tenant) -> None:
    """Tell the engine which terminal events ``tenant``'s active subscriptions want recorded."""
    events = {event for sub in WebhookSubscription.objects.filter(tenant=tenant, active=True) for event in sub.events}
    wanted = {kind for kind, event in EVENT_TYPES.items() if event in events}
    kv.register_tenant(tenant.slug, tenant.shards)
    kv.sync_engine().watch_events(tenant.slug, wanted)


def sync_all_event_flags() -> int:
    """The scheduler's safety net for the flags (a store restored from an old snapshot, a change made
    while the store was down): set every active tenant's again. Returns tenants synced."""
    tenants = list(selectors.all_tenants().filter(active=True))
    for tenant in tenants:
        sync_event_flags(tenant)
    return len(tenants)


def end_stuck(limit: int = 200) -> int:
    """Mark dead the unfinished deliveries that nothing will send any more. A dispatcher that dies
    during the last attempt, or cannot record it, leaves the row pending or retrying while the engine
    dead-letters its task when the lease runs out; without this the delivery would show as retrying
    forever and refuse redelivery. Only rows untouched for longer than a lease are looked at, oldest
    first and ``limit`` per run, each by one read of its task. Returns deliveries ended."""
    cutoff = timezone.now() - timedelta(seconds=lease_seconds(settings.CODEQ_WEBHOOK_TIMEOUT_SECONDS))
    unfinished = (Delivery.Status.PENDING, Delivery.Status.RETRYING)
    candidates = (Delivery.objects.filter(status__in=unfinished, updated__lt=cutoff).exclude(engine_task_id="")
                  .order_by("updated").values_list("pk", "engine_task_id")[:limit])  # fmt: skip
    engine = kv.sync_engine()
    ended = []
    for pk, task_id in candidates:
        try:
            if engine.get_task(INTERNAL_TENANT, task_id).state != State.DEAD:
                continue
        except NotFound:
            pass
        ended.append(pk)
    if not ended:
        return 0
    count = Delivery.objects.filter(pk__in=ended, status__in=unfinished, updated__lt=cutoff).update(
        status=Delivery.Status.DEAD, updated=timezone.now()
    )
    log.warning("%d webhook deliveries ended dead: their send was dead-lettered or lost", count)
    subscriptions = Delivery.objects.filter(pk__in=ended, kind=Delivery.Kind.EVENT).values_list("subscription_id")
    for subscription_pk in {pk for (pk,) in subscriptions}:
        pause_if_failing(subscription_pk)
    return count


def prune() -> int:
    """Retention: delivery records older than ``CODEQ_WEBHOOK_RETENTION_DAYS``, and the internal
    queue's finished tasks (1 day) and dead ones (7 days); first, deliveries stuck unfinished are
    ended (``end_stuck``), before their dead tasks are trimmed away. Returns delivery rows removed."""
    end_stuck()
    cutoff = timezone.now() - timedelta(days=settings.CODEQ_WEBHOOK_RETENTION_DAYS)
    _, removed_by_model = Delivery.objects.filter(updated__lt=cutoff).delete()
    engine = kv.sync_engine()
    while engine.trim(INTERNAL_TENANT, finished_older_than_ms=86_400_000, dead_older_than_ms=7 * 86_400_000,
                      limit=1000).remaining:  # fmt: skip
        pass
    return removed_by_model.get(Delivery._meta.label, 0)
