"""Reads of webhook deliveries. Each takes the tenant; another tenant's delivery is *not found*."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from codeq_platform.errors import InvalidInput, NotFound
from codeq_platform.webhooks.models import Delivery
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
