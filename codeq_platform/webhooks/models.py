"""What the platform keeps of outbound webhooks: tenants' subscriptions, each delivery, each attempt, and
the per-tenant secret that signs result callbacks and worker wake-ups."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from codeq_platform.webhooks.sealing import SealedSecretField
from tenants.models import Tenant


class RotatingSecret:
    """What a row holding a signing secret with a rotation grace period does (``secret``,
    ``previous_secret``, ``previous_secret_expires_at``): tenant subscriptions and tenants' own secrets."""

    SECRET_FIELDS = ("secret", "previous_secret", "previous_secret_expires_at")

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The secrets that sign a delivery at ``now``: the current one, then a still-valid previous one."""
        now = now or timezone.now()
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def rotate_secret(self, new_secret: str, grace_seconds: int) -> None:
        """Put ``new_secret`` in place (unsaved); the current one keeps signing for ``grace_seconds``."""
        if grace_seconds:
            self.previous_secret = self.secret
            self.previous_secret_expires_at = timezone.now() + timedelta(seconds=grace_seconds)
        else:
            self.previous_secret = ""
            self.previous_secret_expires_at = None
        self.secret = new_secret


class WebhookSubscription(RotatingSecret, models.Model):
    """A tenant's endpoint for event callbacks, signed with a per-subscription secret.

    The secret is kept (deliveries are signed with it) but shown only once, when it is created or rotated.
    During a rotation's grace period deliveries are signed with both the new and the previous secret.
    """

    class Event(models.TextChoices):
        AVAILABLE = "task.available"
        COMPLETED = "task.completed"
        FAILED = "task.failed"
        DEAD = "task.dead"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    events = models.JSONField(default=list)
    commands = models.JSONField(default=list, blank=True, help_text="Empty = every command")
    secret = SealedSecretField(editable=False)
    previous_secret = SealedSecretField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    active = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=500, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("tenant__slug", "-created")

    def __str__(self) -> str:
        return f"{self.url} ({self.tenant})"

    def clean(self) -> None:
        """Events must be a non-empty list of known events; commands a list of non-empty strings."""
        known = set(self.Event.values)
        if not isinstance(self.events, list) or not self.events or not set(self.events) <= known:
            raise ValidationError({"events": f"A non-empty list among {', '.join(sorted(known))}."})
        if not isinstance(self.commands, list) or not all(isinstance(c, str) and c for c in self.commands):
            raise ValidationError({"commands": "A list of command names (empty = every command)."})


class SigningSecret(RotatingSecret, models.Model):
    """The tenant's own ``whsec_`` secret for what is not sent to one of its subscriptions (per-task
    result callbacks, worker subscriptions' wake-ups). Created on first use; rotation keeps the
    previous secret signing until its grace period ends."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="signing_secret")
    secret = SealedSecretField(editable=False)
    previous_secret = SealedSecretField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"signing secret of {self.tenant}"


class Delivery(models.Model):
    """One message to one endpoint: a task's result callback, a subscription's event, or a test event.

    Its id is the message id receivers see (``webhook-id``); every attempt, redeliveries included,
    sends the same body under the same id, so receivers can drop duplicates.
    """

    class Kind(models.TextChoices):
        RESULT = "result", "result callback"
        EVENT = "event", "subscription event"
        TEST = "test", "test event"

    class Status(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        DELIVERED = "delivered"
        DEAD = "dead"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_deliveries")
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    event_type = models.CharField(max_length=200, help_text="task.completed/failed/dead, or a callback's command")
    task_id = models.CharField(max_length=200, blank=True, default="")
    engine_task_id = models.CharField(
        max_length=200, blank=True, default="", help_text="the internal queue's task that sends it now"
    )
    url = models.URLField(max_length=2048)
    body = models.TextField(help_text="the exact JSON sent")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created",)
        verbose_name_plural = "deliveries"
        indexes = (
            models.Index(fields=("subscription", "-created"), name="delivery_sub_created"),
            models.Index(fields=("created",), name="delivery_created"),
            models.Index(fields=("status", "updated"), name="delivery_status_updated"),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.event_type} to {self.url} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at sending a delivery, as the receiver answered it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=500, blank=True, default="")
    response_body = models.TextField(blank=True, default="", help_text="the first KiB of the answer")
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("delivery", "number")

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {'ok' if self.ok else self.error}"
