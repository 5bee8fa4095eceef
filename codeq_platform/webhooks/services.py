"""Writes of tenants' webhook subscriptions: verbs with keyword-only arguments, each audited.

Invalid values raise Django's ``ValidationError`` (from ``full_clean``).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from codeq_platform.webhooks.models import WebhookSubscription
from tenants.models import Tenant
from tenants.services import record_audit

WEBHOOK_SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class CreatedSubscription:
    """A new webhook subscription and its signing secret, which is never returned again."""

    subscription: WebhookSubscription
    secret: str


def create_webhook_subscription(
    *,
    tenant: Tenant,
    url: str,
    events: list[str],
    commands: Iterable[str] = (),
    actor: str = "system",
) -> CreatedSubscription:
    """Subscribe ``url`` to ``events`` (for ``commands``, empty = all); the secret is returned only here."""
    secret = new_webhook_secret()
    subscription = WebhookSubscription(
        tenant=tenant, url=url, events=list(events), commands=list(commands), secret=secret
    )
    subscription.full_clean()
    subscription.save()
    record_audit(
        tenant=tenant,
        actor=actor,
        action="webhook.create",
        target=url,
        detail={"subscriptionId": subscription.pk, "events": subscription.events},
    )
    return CreatedSubscription(subscription=subscription, secret=secret)


def update_webhook_subscription(
    *,
    subscription: WebhookSubscription,
    url: str,
    events: list[str],
    commands: Iterable[str] = (),
    active: bool = True,
    actor: str = "system",
) -> WebhookSubscription:
    """Change where and what ``subscription`` delivers; its secret stays. Reactivating clears a pause."""
    subscription.url = url
    subscription.events = list(events)
    subscription.commands = list(commands)
    if active and not subscription.active:
        subscription.paused_reason = ""
    subscription.active = active
    subscription.full_clean()
    subscription.save(update_fields=["url", "events", "commands", "active", "paused_reason"])
    record_audit(
        tenant=subscription.tenant,
        actor=actor,
        action="webhook.update",
        target=url,
        detail={"subscriptionId": subscription.pk, "events": subscription.events, "active": active},
    )
    return subscription


def rotate_webhook_secret(*, subscription: WebhookSubscription, grace_seconds: int, actor: str = "system") -> str:
    """Give ``subscription`` a new secret and return it; the old one still signs for ``grace_seconds``.

    The secret kept for the grace period is read from the row locked for the rotation, not from the
    caller's copy: two rotations at once then keep the first one's secret valid instead of losing it.
    """
    if grace_seconds < 0:
        raise ValidationError({"grace_seconds": "The grace period cannot be negative."})
    with transaction.atomic():
        row = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        row.rotate_secret(new_webhook_secret(), grace_seconds)
        row.save(update_fields=row.SECRET_FIELDS)
        record_audit(
            tenant=subscription.tenant,
            actor=actor,
            action="webhook.rotate_secret",
            target=row.url,
            detail={"subscriptionId": row.pk, "graceSeconds": grace_seconds},
        )
    for name in row.SECRET_FIELDS:
        setattr(subscription, name, getattr(row, name))
    return row.secret


def delete_webhook_subscription(*, subscription: WebhookSubscription, actor: str = "system") -> None:
    """Remove a subscription; nothing more is delivered to it."""
    record_audit(tenant=subscription.tenant, actor=actor, action="webhook.delete", target=subscription.url,
                 detail={"id": subscription.pk})  # fmt: skip
    subscription.delete()


def new_webhook_secret() -> str:
    """A fresh secret in the Standard Webhooks format: whsec_ + base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def is_callback_url(value: str) -> bool:
    """An absolute http(s) URL a callback can be sent to: checked when it is given, so a port out of
    range or an unclosed IPv6 bracket is the caller's 400, not a failure at every send."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number or out of range
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0 and len(value) <= 2048
