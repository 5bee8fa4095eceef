"""Webhook deliveries on the admin's pages: what was sent where and how the receiver answered, and a
redelivery limited to the subscription the page shows (the test event is ``webhooks.deliveries``' own)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Prefetch, Subquery

from codeq_platform.errors import NotFound
from codeq_platform.webhooks import deliveries as outbound
from codeq_platform.webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription
from tenants.models import Tenant


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery and its latest attempt (None before the first)."""

    delivery: Delivery
    last_attempt: DeliveryAttempt | None


def _rows(queryset) -> list[DeliveryRow]:
    latest_first = Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("-number"), to_attr="latest")
    return [DeliveryRow(d, d.latest[0] if d.latest else None) for d in queryset.prefetch_related(latest_first)]


def recent_deliveries(*, tenant: Tenant, subscription: WebhookSubscription, limit: int = 20) -> list[DeliveryRow]:
    """The subscription's latest ``limit`` deliveries, newest first."""
    return _rows(Delivery.objects.filter(tenant=tenant, subscription=subscription).order_by("-created")[:limit])


def last_delivery_by_subscription(*, tenant: Tenant, subscription_ids: list[int]) -> dict[int, DeliveryRow]:
    """The latest delivery of each of ``subscription_ids`` (one page of the list), by subscription id:
    three queries however many subscriptions, each latest found through the (subscription, -created) index."""
    latest = Delivery.objects.filter(subscription_id=OuterRef("pk")).order_by("-created").values("pk")[:1]
    ids = WebhookSubscription.objects.filter(tenant=tenant, pk__in=subscription_ids).values_list(
        Subquery(latest), flat=True
    )
    found = Delivery.objects.filter(pk__in=[pk for pk in ids if pk is not None])
    return {row.delivery.subscription_id: row for row in _rows(found)}


def redeliver(*, tenant: Tenant, subscription: WebhookSubscription, delivery_id: str, actor: str) -> Delivery:
    """Send one of the subscription's finished deliveries again (same id and body). NotFound for another
    tenant's or subscription's delivery; Conflict while it is still being delivered."""
    try:
        delivery = Delivery.objects.get(tenant=tenant, subscription=subscription, pk=delivery_id)
    except (Delivery.DoesNotExist, ValidationError):
        raise NotFound("delivery not found") from None
    return outbound.redeliver(delivery=delivery, actor=actor)
