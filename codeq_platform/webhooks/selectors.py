"""Reads of webhook subscriptions and deliveries. Each takes the tenant; another tenant's is *not found*."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet

from codeq_platform.engine import command_key
from codeq_platform.errors import InvalidInput, NotFound
from codeq_platform.webhooks.models import Delivery, WebhookSubscription
from tenants.models import Tenant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None


def deliveries_for(*, tenant: Tenant, subscription_id: int, limit: int, cursor: str = "") -> DeliveryPage:
    """A subscription's deliveries with their attempts, newest first; ``cursor`` continues a listing
    (``<created µs>:<id>`` of the last delivery shown)."""
    rows = Delivery.objects.filter(tenant=tenant, subscription_id=subscription_id).prefetch_related("attempt_log")
    if cursor:
        micros, _, last = cursor.partition(":")
        try:
            after, last_id = EPOCH + int(micros) * MICROSECOND, uuid.UUID(last)
        except (ValueError, OverflowError):
            raise InvalidInput("invalid cursor", field="cursor") from None
        rows = rows.filter(Q(created__lt=after) | Q(created=after, id__lt=last_id))
    page = list(rows.order_by("-created", "-id")[: limit + 1])
    if len(page) <= limit:
        return DeliveryPage(page, None)
    last_row = page[limit - 1]
    return DeliveryPage(page[:limit], f"{(last_row.created - EPOCH) // MICROSECOND}:{last_row.id}")


def delivery_for(*, tenant: Tenant, delivery_id: uuid.UUID) -> Delivery:
    delivery = Delivery.objects.filter(tenant=tenant, pk=delivery_id).prefetch_related("attempt_log").first()
    if delivery is None:
        raise NotFound("delivery not found")
    return delivery


def webhook_subscriptions_for(*, tenant: Tenant) -> QuerySet[WebhookSubscription]:
    """The tenant's webhook subscriptions, newest first."""
    return WebhookSubscription.objects.filter(tenant=tenant).order_by("-created", "-id")


def subscriptions_for_event(*, tenant: Tenant, event: str, command: str) -> list[WebhookSubscription]:
    """The tenant's active subscriptions that want ``event`` for ``command`` (case-insensitive)."""
    # Filtered in Python: SQLite has no JSON containment lookup, and a tenant has few subscriptions.
    wanted = command_key(command)
    return [
        sub
        for sub in WebhookSubscription.objects.filter(tenant=tenant, active=True).order_by("id")
        if event in sub.events and (not sub.commands or wanted in {command_key(c) for c in sub.commands})
    ]


def webhook_subscription_for(*, tenant: Tenant, subscription_id: int) -> WebhookSubscription:
    """The tenant's subscription ``subscription_id``; raises NotFound (also for another tenant's)."""
    try:
        return WebhookSubscription.objects.get(tenant=tenant, pk=subscription_id)
    except WebhookSubscription.DoesNotExist:
        raise NotFound("webhook subscription not found") from None
