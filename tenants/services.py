"""Writes of the control plane: verbs with keyword-only arguments.

Invalid values raise Django's ``ValidationError`` (from ``full_clean``), a schedule's ``InvalidSchedule``; a
missing or foreign object raises ``codeq_platform.errors.NotFound``. Actions on tokens, members, webhooks and
schedules write their own audit entry, attributed to ``actor`` (a username, ``token:<name>`` or ``cli``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from codeq_platform.engine import jsontext
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput, InvalidSchedule, NotFound
from tenants import bearer, cron
from tenants.models import ApiToken, AuditEntry, Membership, Schedule, Tenant, WebhookSubscription
from tenants.selectors import grant_cache_key

WEBHOOK_SECRET_PREFIX = "whsec_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
SCHEDULE_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
SCHEDULE_MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class IssuedToken:
    """A new token row and its bearer JWT; the bearer is shown to the caller once and stored nowhere."""

    token_row: ApiToken
    bearer: str


@dataclass(frozen=True)
class CreatedSubscription:
    """A new webhook subscription and its signing secret, which is never returned again."""

    subscription: WebhookSubscription
    secret: str


@dataclass(frozen=True)
class ScheduleSpec:
    """A recurring schedule as its owner writes it (reference §5); ``put_schedule`` checks the values."""

    cron: str
    command: str
    time_zone: str = "UTC"
    payload: Any = field(default_factory=dict)
    priority: int = 0
    max_attempts: int = 0
    webhook: str = ""
    paused: bool = False


@dataclass(frozen=True)
class PutSchedule:
    """The schedule as stored after a PUT, and whether the PUT created it."""

    schedule: Schedule
    created: bool


def create_tenant(*, slug: str, name: str = "", **limits: int) -> Tenant:
    """Create a tenant; ``limits`` override the model's defaults (``shards``, ``max_payload_bytes`` ...)."""
    tenant = Tenant(slug=slug, name=name or slug, **limits)
    tenant.full_clean()
    tenant.save()
    return tenant


def set_tenant_active(*, tenant: Tenant, active: bool, actor: str = "system") -> Tenant:
    """Switch a tenant on or off; its tokens stop (or resume) working at once."""
    tenant.active = active
    tenant.save(update_fields=["active"])
    _forget_grants(tenant=tenant, jtis=tenant.tokens.values_list("jti", flat=True))
    record_audit(tenant=tenant, actor=actor, action="tenant.activate" if active else "tenant.deactivate")
    return tenant


def issue_token(
    *,
    tenant: Tenant,
    name: str,
    role: str,
    expires_in_days: int | None = None,
    actor: str = "system",
) -> IssuedToken:
    """Create an API token row for ``tenant`` and mint its bearer JWT (shown once, never stored)."""
    if expires_in_days is not None and expires_in_days <= 0:
        raise ValidationError({"expires_at": "A token's lifetime is a positive number of days."})
    bearer.signing_key()  # a misconfigured key fails here, before a row exists that no bearer could match
    now = timezone.now().replace(microsecond=0)
    token = ApiToken(
        tenant=tenant,
        name=name,
        role=role,
        created=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days is not None else None,
    )
    token.full_clean()
    token.save()
    record_audit(
        tenant=tenant,
        actor=actor,
        action="token.issue",
        target=f"token:{token.name}",
        detail={"tokenId": token.pk, "role": token.role},
    )
    return IssuedToken(token_row=token, bearer=bearer.mint(token))


def revoke_token(*, token_id: int, tenant: Tenant | None = None, actor: str = "system") -> ApiToken:
    """Revoke token ``token_id`` (of ``tenant`` when given); it is refused from the next request on.

    Revoking twice keeps the first revocation time. Raises NotFound for a missing or foreign token.
    """
    with transaction.atomic():
        rows = ApiToken.objects.select_for_update().filter(pk=token_id)
        if tenant is not None:
            rows = rows.filter(tenant=tenant)
        token = rows.select_related("tenant").first()
        if token is None:
            raise NotFound("token not found")
        newly_revoked = token.revoked_at is None
        if newly_revoked:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    _forget_grants(tenant=token.tenant, jtis=[token.jti])
    if newly_revoked:
        record_audit(
            tenant=token.tenant,
            actor=actor,
            action="token.revoke",
            target=f"token:{token.name}",
            detail={"tokenId": token.pk},
        )
    return token


def note_token_use(*, token_id: int, jti: str, at: datetime) -> None:
    """Record that a token was used at ``at``: at most one database write per token and minute."""
    # cache.add is SET NX: only the first request of the minute, across all processes, writes.
    if not cache.add(f"token-used:{jti}", 1, timeout=int(LAST_USED_RESOLUTION.total_seconds())):
        return
    ApiToken.objects.filter(pk=token_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=at - LAST_USED_RESOLUTION)
    ).update(last_used_at=at)


def add_member(*, tenant: Tenant, user, role: str, actor: str = "system") -> Membership:
    """Give ``user`` ``role`` in ``tenant``, replacing the role of an existing membership."""
    membership = Membership.objects.filter(tenant=tenant, user=user).first() or Membership(tenant=tenant, user=user)
    membership.role = role
    membership.full_clean()
    membership.save()
    record_audit(tenant=tenant, actor=actor, action="member.add", target=user.get_username(), detail={"role": role})
    return membership


def remove_member(*, tenant: Tenant, user, actor: str = "system") -> bool:
    """Remove ``user`` from ``tenant``; False if they were not a member."""
    deleted, _ = Membership.objects.filter(tenant=tenant, user=user).delete()
    if deleted:
        record_audit(tenant=tenant, actor=actor, action="member.remove", target=user.get_username())
    return bool(deleted)


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


def record_audit(
    *,
    tenant: Tenant,
    actor: str,
    action: str,
    target: str = "",
    task_ids: Iterable[str] = (),
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to ``tenant``'s audit trail."""
    return AuditEntry.objects.create(
        tenant=tenant,
        actor=actor,
        action=action,
        target=target,
        task_ids=list(task_ids),
        detail=detail or {},
    )


def new_webhook_secret() -> str:
    """A fresh secret in the Standard Webhooks format: whsec_ + base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def _forget_grants(*, tenant: Tenant, jtis: Iterable[str]) -> None:
    keys = [grant_cache_key(tenant_slug=tenant.slug, jti=jti) for jti in jtis]
    if keys:
        cache.delete_many(keys)


def delete_webhook_subscription(*, subscription: WebhookSubscription, actor: str = "system") -> None:
    """Remove a subscription; nothing more is delivered to it."""
    record_audit(tenant=subscription.tenant, actor=actor, action="webhook.delete", target=subscription.url,
                 detail={"id": subscription.pk})  # fmt: skip
    subscription.delete()


def put_schedule(
    *, tenant: Tenant, name: str, spec: ScheduleSpec, actor: str = "system", now: datetime | None = None
) -> PutSchedule:
    """Create or replace ``tenant``'s schedule ``name``; an identical spec changes nothing.

    A change bumps ``version``. The next slot is kept while the timing (cron, zone, paused) stays the
    same, and otherwise recomputed from ``now``: resuming never catches up the paused period. Raises
    InvalidSchedule naming the field.
    """
    timing = _checked_timing(tenant=tenant, name=name, spec=spec)
    spec = ScheduleSpec(**{**spec.__dict__, "cron": timing.expression})
    now = now or timezone.now()
    try:
        with transaction.atomic():
            return _put_schedule(tenant=tenant, name=name, spec=spec, timing=timing, actor=actor, now=now)
    except IntegrityError:
        # Another PUT created the same name between our read and our insert: this one is now an update.
        with transaction.atomic():
            return _put_schedule(tenant=tenant, name=name, spec=spec, timing=timing, actor=actor, now=now)


def _put_schedule(
    *, tenant: Tenant, name: str, spec: ScheduleSpec, timing: cron.Timing, actor: str, now: datetime
) -> PutSchedule:
    schedule = Schedule.objects.select_for_update().filter(tenant=tenant, name=name).first()
    created = schedule is None
    if schedule is None:
        schedule = Schedule(tenant=tenant, name=name, created=now)
    elif schedule_spec_of(schedule) == spec and _json_bytes(schedule.payload) == _json_bytes(spec.payload):
        return PutSchedule(schedule=schedule, created=False)
    else:
        schedule.version += 1
    if created or (schedule.cron, schedule.time_zone, schedule.paused) != (spec.cron, spec.time_zone, spec.paused):
        schedule.next_run_at = None if spec.paused else timing.next_after(now)
    schedule.cron, schedule.time_zone, schedule.command = spec.cron, spec.time_zone, spec.command
    schedule.payload, schedule.priority, schedule.max_attempts = spec.payload, spec.priority, spec.max_attempts
    schedule.webhook, schedule.paused, schedule.updated = spec.webhook, spec.paused, now
    schedule.save()
    detail = {"version": schedule.version, "cron": spec.cron, "paused": spec.paused}
    action = "schedule.create" if created else "schedule.update"
    record_audit(tenant=tenant, actor=actor, action=action, target=name, detail=detail)
    return PutSchedule(schedule=schedule, created=created)


def schedule_spec_of(schedule: Schedule) -> ScheduleSpec:
    """The spec a stored schedule was written with."""
    return ScheduleSpec(
        cron=schedule.cron, command=schedule.command, time_zone=schedule.time_zone, payload=schedule.payload,
        priority=schedule.priority, max_attempts=schedule.max_attempts, webhook=schedule.webhook,
        paused=schedule.paused,
    )  # fmt: skip


def _json_bytes(value: Any) -> bytes:
    # Python's == takes 1, 1.0 and true for the same payload; the task would not be the same. The standard
    # library writes integers beyond 64 bits, which orjson refuses.
    return json.dumps(value, sort_keys=True).encode()


def _checked_timing(*, tenant: Tenant, name: str, spec: ScheduleSpec) -> cron.Timing:
    if not SCHEDULE_NAME_RE.fullmatch(name):
        raise InvalidSchedule("a schedule name is a DNS label: 1-63 of a-z, 0-9 and '-', not at either end",
                              field="name")  # fmt: skip
    timing = cron.parse(spec.cron, spec.time_zone)
    try:
        validate_command(spec.command)
    except InvalidInput:
        raise InvalidSchedule("invalid command (1-200 characters without whitespace or '/')", field="command") from None
    if not 0 <= spec.priority <= 9:
        raise InvalidSchedule("priority is from 0 to 9", field="priority")
    if not 0 <= spec.max_attempts <= SCHEDULE_MAX_ATTEMPTS:
        raise InvalidSchedule("maxAttempts is from 0 (the platform's default) to 100", field="maxAttempts")
    if spec.webhook and not is_callback_url(spec.webhook):
        raise InvalidSchedule("webhook must be an absolute http(s) URL", field="webhook")
    if len(jsontext.dumps(spec.payload)) > tenant.max_payload_bytes:
        raise InvalidSchedule(f"payload exceeds {tenant.max_payload_bytes} bytes", field="payload")
    return timing


def is_callback_url(value: str) -> bool:
    """An absolute http(s) URL a callback can be sent to: checked when it is given, so a port out of
    range or an unclosed IPv6 bracket is the caller's 400, not a failure at every send."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number or out of range
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0 and len(value) <= 2048


def delete_schedule(*, tenant: Tenant, name: str, actor: str = "system") -> bool:
    """Remove ``tenant``'s schedule ``name``; False if there was none. Tasks it created stay."""
    deleted, _ = Schedule.objects.filter(tenant=tenant, name=name).delete()
    if deleted:
        record_audit(tenant=tenant, actor=actor, action="schedule.delete", target=name)
    return bool(deleted)


def record_schedule_run(*, schedule: Schedule, slot: datetime, task_id: str, next_run_at: datetime) -> bool:
    """Record that ``schedule`` created ``task_id`` for ``slot`` and move on to ``next_run_at``.

    Compare-and-set on the version and next slot the caller read: False when another scheduler
    recorded this slot first or the spec changed meanwhile, and nothing is written then.
    """
    return bool(
        Schedule.objects.filter(
            pk=schedule.pk, version=schedule.version, next_run_at=schedule.next_run_at, paused=False
        ).update(next_run_at=next_run_at, last_run_at=slot, last_task_id=task_id)
    )
