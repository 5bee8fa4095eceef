"""Writes of the control plane: tenants, members and tokens; verbs with keyword-only arguments.

Invalid values raise Django's ``ValidationError`` (from ``full_clean``); a missing or foreign object raises
``codeq_platform.errors.NotFound``. Actions on tokens and members write their own audit entry, attributed to
``actor`` (a username, ``token:<name>`` or ``cli``); ``record_audit`` is the one way any service writes one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from asgiref.sync import async_to_sync
from axes.utils import reset as axes_reset
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from codeq_platform.errors import NotFound
from tenants import bearer
from tenants.models import AccessEvent, ApiToken, AuditEntry, Membership, SignInGeneration, Tenant
from tenants.selectors import grant_cache_key, sessions_group

log = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    """A new token row and its bearer JWT; the bearer is shown to the caller once and stored nowhere."""

    token_row: ApiToken
    bearer: str


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
    forget_tenant_grants(tenant=tenant)
    record_audit(tenant=tenant, actor=actor, action="tenant.reactivate" if active else "tenant.suspend")
    return tenant


def forget_tenant_grants(*, tenant: Tenant) -> None:
    """Drop the cached grants of every token of ``tenant`` (after its limits or standing change)."""
    _forget_grants(tenant=tenant, jtis=tenant.tokens.values_list("jti", flat=True))


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
    """Give ``user`` ``role`` in ``tenant``, replacing the role of an existing membership (the console and
    the CLI change roles and remove members through ``tenants.members``, which keeps a last admin)."""
    membership = Membership.objects.filter(tenant=tenant, user=user).first() or Membership(tenant=tenant, user=user)
    membership.role = role
    membership.full_clean()
    membership.save()
    record_audit(tenant=tenant, actor=actor, action="member.add", target=user.get_username(), detail={"role": role})
    return membership


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


@dataclass(frozen=True)
class Client:
    """Where a request came from, as the access log keeps it."""

    ip_address: str | None = None
    user_agent: str = ""


def record_access(
    *,
    kind: str,
    user=None,
    username: str = "",
    client: Client = Client(),
    actor: str = "",
    detail: dict[str, Any] | None = None,
) -> AccessEvent:
    """Append an event to the access log; ``username`` defaults to ``user``'s."""
    return AccessEvent.objects.create(
        kind=kind,
        user=user,
        username=(username or (user.get_username() if user is not None else ""))[:150],
        ip_address=client.ip_address,
        user_agent=client.user_agent[:300],
        actor=actor,
        detail=detail or {},
    )


def sign_out_everywhere(*, user, actor: str = "", client: Client = Client(), reason: str = "") -> int:
    """End every session of ``user`` (at their next request) and close their live sockets now.

    Moves the user's sign-in generation on and returns the new one; the dashboard ends a session whose
    generation is older, and its sockets leave when told on the user's channel-layer group.
    """
    with transaction.atomic():
        row, _ = SignInGeneration.objects.select_for_update().get_or_create(user=user)
        row.generation = F("generation") + 1
        row.save(update_fields=["generation"])
        row.refresh_from_db()
    record_access(
        kind=AccessEvent.Kind.LOGOUT_EVERYWHERE, user=user, client=client, actor=actor,
        detail={"reason": reason} if reason else None,
    )  # fmt: skip
    _tell_sockets(user.pk, {"type": "sessions.ended", "generation": row.generation})
    return row.generation


def session_fingerprint(session_key: str) -> str:
    """What names a session to the live sockets, without the key itself travelling."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def session_ended(*, user_id: int, session_key: str) -> None:
    """Close the live sockets of one session of ``user_id`` now (it was logged out)."""
    _tell_sockets(user_id, {"type": "session.ended", "session": session_fingerprint(session_key)})


def access_changed(*, user_id: int) -> None:
    """Have the live sockets of ``user_id`` check their access again now (a membership changed)."""
    _tell_sockets(user_id, {"type": "access.changed"})


def _tell_sockets(user_id: int, event: dict[str, Any]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(sessions_group(user_id=user_id), event)
    except (OSError, redis.RedisError):
        # The sockets notice at their next periodic check instead.
        log.warning("could not tell the live sockets of user %s: %s", user_id, event["type"], exc_info=True)


def unlock_sign_in(*, username: str = "", ip_address: str | None = None, actor: str) -> int:
    """Lift the sign-in lockout and forget the failures of ``username`` and/or ``ip_address``.

    Returns how many failure records were cleared.
    """
    if not username and not ip_address:
        raise ValidationError("Name a username or an address to unlock.")
    cleared = axes_reset(username=username or None, ip=ip_address or None, ip_or_username=bool(username and ip_address))
    record_access(
        kind=AccessEvent.Kind.UNLOCK, username=username, client=Client(ip_address=ip_address or None), actor=actor,
        detail={"cleared": cleared},
    )  # fmt: skip
    return cleared


def prune_access_log(*, older_than: timedelta) -> int:
    """Delete access log entries older than ``older_than``; how many went."""
    deleted, _ = AccessEvent.objects.filter(created__lt=timezone.now() - older_than).delete()
    return deleted


def _forget_grants(*, tenant: Tenant, jtis: Iterable[str]) -> None:
    keys = [grant_cache_key(tenant_slug=tenant.slug, jti=jti) for jti in jtis]
    if keys:
        cache.delete_many(keys)
