"""The control plane's records: tenants, their members, API tokens, webhook subscriptions, schedules, audit trail."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator, URLValidator
from django.db import models
from django.utils import timezone

from tenants.sealing import SealedSecretField

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# The platform's own queue tenant (webhook deliveries); no customer tenant may take its slug.
INTERNAL_TENANT_SLUG = "codeq-webhooks"
MAX_SHARDS = 64

slug_validator = RegexValidator(
    SLUG_PATTERN,
    message="A slug is 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit.",
    code="invalid_slug",
)


def new_jti() -> str:
    """A random key id for a token row: 128 bits, hex, safe in a KV key and a worker id."""
    return secrets.token_hex(16)


class Tenant(models.Model):
    """A customer of the platform; its slug is part of every KV key, so it never changes."""

    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(default=timezone.now, editable=False)

    max_payload_bytes = models.PositiveIntegerField(default=256 * 1024, help_text="largest task payload, as JSON")
    max_body_bytes = models.PositiveIntegerField(default=1024 * 1024, help_text="largest request body")
    max_queued_tasks = models.PositiveBigIntegerField(default=1_000_000, help_text="0 = unlimited")
    requests_per_second = models.PositiveIntegerField(default=1000)
    result_retention_seconds = models.PositiveIntegerField(default=86400)
    dlq_retention_seconds = models.PositiveIntegerField(default=7 * 86400)
    shards = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_SHARDS)]
    )

    class Meta:
        ordering = ("slug",)
        constraints = (
            models.CheckConstraint(
                condition=models.Q(shards__gte=1, shards__lte=MAX_SHARDS), name="tenant_shards_in_range"
            ),
        )

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        if self.slug == INTERNAL_TENANT_SLUG:
            raise ValidationError({"slug": "This slug is reserved for the platform."})


class Membership(models.Model):
    """A dashboard user's role in one tenant."""

    class Role(models.TextChoices):
        VIEWER = "viewer"
        OPERATOR = "operator"
        ADMIN = "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("tenant__slug", "user__username")
        constraints = (models.UniqueConstraint(fields=("user", "tenant"), name="membership_one_per_user_and_tenant"),)

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


class ApiToken(models.Model):
    """What makes a bearer JWT valid: the JWT names this row by ``jti``; the row holds no secret.

    A token is usable while its row exists, is not revoked, has not expired and its tenant is active.
    """

    class Role(models.TextChoices):
        PRODUCER = "producer"
        WORKER = "worker"
        ADMIN = "admin"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices)
    jti = models.CharField(max_length=64, unique=True, default=new_jti, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("tenant__slug", "-created")

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.tenant})"

    def status(self, now: datetime | None = None) -> str:
        """``revoked``, ``expired`` or ``active`` at ``now`` (default: the present)."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


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


class AuditEntry(models.Model):
    """One operator or admin action on a tenant, kept for the dashboard's history."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.CharField(max_length=200, help_text='A username or "token:<name>"')
    action = models.CharField(max_length=100)
    target = models.CharField(max_length=500, blank=True, default="")
    task_ids = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created", "-id")
        verbose_name_plural = "audit entries"
        indexes = (models.Index(fields=("tenant", "created"), name="audit_tenant_created"),)

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"


class Schedule(models.Model):
    """A tenant's recurring task: a cron rule in an IANA zone and the task it creates at each slot.

    ``version`` counts changes of the spec; firing a slot only moves ``next_run_at``, ``last_run_at``
    and ``last_task_id``. ``next_run_at`` is null while the schedule is paused.
    """

    schedule_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=63)
    cron = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA zone name")
    command = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=0, help_text="0 = the platform's default")
    webhook = models.CharField(max_length=2048, blank=True, default="")
    paused = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_task_id = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("tenant__slug", "name")
        constraints = (models.UniqueConstraint(fields=("tenant", "name"), name="schedule_one_name_per_tenant"),)
        indexes = (models.Index(fields=("paused", "next_run_at"), name="schedule_due"),)

    def __str__(self) -> str:
        return f"{self.name} ({self.cron}, {self.tenant})"
