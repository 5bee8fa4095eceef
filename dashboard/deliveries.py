"""Reads of webhook deliveries for the admin's pages: what was sent where, and how the receiver answered."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch

from codeq_platform.webhooks.models import Delivery, DeliveryAttempt
from tenants.models import Tenant, WebhookSubscription


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


def last_delivery_by_subscription(*, tenant: Tenant) -> dict[int, DeliveryRow]:
    """Each of the tenant's subscriptions' latest delivery, by subscription id (a tenant has few)."""
    out: dict[int, DeliveryRow] = {}
    for subscription_id in WebhookSubscription.objects.filter(tenant=tenant).values_list("id", flat=True):
        rows = _rows(Delivery.objects.filter(tenant=tenant, subscription_id=subscription_id).order_by("-created")[:1])
        if rows:
            out[subscription_id] = rows[0]
    return out
