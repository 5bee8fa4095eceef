"""The control plane's records: tenants, their members, API tokens and the audit trail."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

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
    monthly_task_quota = models.PositiveBigIntegerField(
        default=0, help_text="tasks created per calendar month (UTC); 0 = no quota"
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


class AccessEvent(models.Model):
    """A sign-in, a refused one, a lockout, a second-factor change or a sign-out: the access log.

    It belongs to a person, not a tenant (a sign-in opens every tenant the user is in, a failure may name
    no user at all), so it is kept apart from the tenants' audit trail and shown to staff only. The
    username is kept as typed, so a failure for a name that does not exist and the events of a deleted
    user stay readable.
    """

    class Kind(models.TextChoices):
        LOGIN = "login", "signed in"
        LOGIN_FAILED = "login.failed", "sign-in failed"
        THROTTLED = "login.throttled", "sign-in refused: too soon"
        LOCKOUT = "login.lockout", "locked out"
        UNLOCK = "login.unlock", "unlocked"
        LOGOUT = "logout", "signed out"
        LOGOUT_EVERYWHERE = "logout.everywhere", "signed out everywhere"
        OTP_VERIFIED = "2fa.verified", "second factor passed"
        OTP_FAILED = "2fa.failed", "second factor failed"
        OTP_ENROLLED = "2fa.enrolled", "second factor set up"
        OTP_REMOVED = "2fa.removed", "second factor removed"
        RECOVERY_CODES = "2fa.recovery-codes", "recovery codes made"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="access_events"
    )
    username = models.CharField(max_length=150, blank=True, default="")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")
    actor = models.CharField(max_length=200, blank=True, default="", help_text="who acted, if not the user")
    detail = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created", "-id")
        indexes = (
            models.Index(fields=("created",), name="access_created"),
            models.Index(fields=("username", "created"), name="access_username_created"),
            models.Index(fields=("kind", "created"), name="access_kind_created"),
        )

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.username} {self.kind}"


class SignInGeneration(models.Model):
    """A user's sign-in generation: a session remembers the one it began in and ends once it moves on.

    Signing out everywhere moves it on, which ends every session of the user, in every process, at its
    next request, and closes the live sockets those sessions hold.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sign_in")
    generation = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user} generation {self.generation}"


class TenantDeletion(models.Model):
    """The deletion of one tenant, step by step; it outlives the tenant as the record that it was deleted.

    It names the tenant by id and slug rather than by a foreign key, which the deletion itself removes.
    ``phase`` moves from ``store`` (SCAN pattern ``pattern`` from ``cursor``) to ``database`` to ``done``;
    each step saves where it got to, so a crashed scheduler resumes where it stopped.
    """

    class Phase(models.TextChoices):
        STORE = "store"
        DATABASE = "database"
        DONE = "done"

    tenant_id = models.BigIntegerField(unique=True)
    slug = models.CharField(max_length=63)
    requested_by = models.CharField(max_length=200)
    requested = models.DateTimeField(default=timezone.now, editable=False)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.STORE)
    pattern = models.PositiveSmallIntegerField(default=0)
    cursor = models.CharField(max_length=40, default="0")
    pass_keys = models.PositiveBigIntegerField(default=0, help_text="keys deleted in the current pass")
    keys_deleted = models.PositiveBigIntegerField(default=0)
    rows_deleted = models.PositiveBigIntegerField(default=0)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-requested",)

    def __str__(self) -> str:
        return f"deletion of {self.slug} ({self.phase})"


class Invitation(models.Model):
    """A pending invitation to join a tenant; its link carries a signed token naming this row."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices)
    invited_by = models.CharField(max_length=200)
    nonce = models.CharField(max_length=64, default=new_jti, editable=False, unique=True)
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} as {self.role}"

    def status(self, now: datetime | None = None) -> str:
        """``accepted``, ``revoked``, ``expired`` or ``pending`` at ``now`` (default: the present)."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or timezone.now()):
            return "expired"
        return "pending"


class UsageDay(models.Model):
    """One tenant's usage on one UTC day, as absolute totals rolled up from the store's counters.

    The roll-up writes absolute values by (tenant, day), so running it twice, or again after a crash,
    gives the same row.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    tasks_created = models.PositiveBigIntegerField(default=0)
    tasks_completed = models.PositiveBigIntegerField(default=0)
    tasks_failed = models.PositiveBigIntegerField(default=0)
    tasks_dead = models.PositiveBigIntegerField(default=0)
    api_requests = models.PositiveBigIntegerField(default=0)
    payload_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ("tenant", "day")
        constraints = (models.UniqueConstraint(fields=("tenant", "day"), name="usage_one_row_per_tenant_and_day"),)

    def __str__(self) -> str:
        return f"{self.tenant} on {self.day}"
