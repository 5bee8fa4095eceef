"""Reads of the control plane. Each takes the tenant it reads in; another tenant's object is *not found*."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from codeq_platform.errors import NotFound
from tenants.models import AccessEvent, ApiToken, AuditEntry, Membership, SignInGeneration, Tenant


@dataclass(frozen=True)
class TokenGrant:
    """What a token row and its tenant allow, as cached for request authentication."""

    token_id: int
    jti: str
    name: str
    role: str
    tenant_id: int
    tenant_slug: str
    tenant_active: bool
    expires_at: datetime | None
    revoked: bool
    max_payload_bytes: int
    max_body_bytes: int
    max_queued_tasks: int
    requests_per_second: int
    shards: int
    monthly_task_quota: int = 0


def grant_cache_key(*, tenant_slug: str, jti: str) -> str:
    """The cache key of one token's grant; services delete it when they change the token or its tenant."""
    return f"token-grant:{tenant_slug}:{jti}"


def token_grant(*, tenant_slug: str, jti: str) -> TokenGrant | None:
    """The grant of token ``jti`` in tenant ``tenant_slug``, or None if there is no such token there.

    Served from the cache for at most ``CODEQ_TOKEN_CACHE_SECONDS``, so a change that bypasses the
    services (an admin edit, a deleted row) is seen within that time.
    """
    key = grant_cache_key(tenant_slug=tenant_slug, jti=jti)
    cached = cache.get(key)
    if cached is not None:
        return TokenGrant(**cached)
    token = ApiToken.objects.select_related("tenant").filter(tenant__slug=tenant_slug, jti=jti).first()
    if token is None:
        return None
    grant = TokenGrant(
        token_id=token.pk,
        jti=token.jti,
        name=token.name,
        role=token.role,
        tenant_id=token.tenant_id,
        tenant_slug=token.tenant.slug,
        tenant_active=token.tenant.active,
        expires_at=token.expires_at,
        revoked=token.revoked_at is not None,
        max_payload_bytes=token.tenant.max_payload_bytes,
        max_body_bytes=token.tenant.max_body_bytes,
        max_queued_tasks=token.tenant.max_queued_tasks,
        requests_per_second=token.tenant.requests_per_second,
        shards=token.tenant.shards,
        monthly_task_quota=token.tenant.monthly_task_quota,
    )
    cache.set(key, asdict(grant), timeout=settings.CODEQ_TOKEN_CACHE_SECONDS)
    return grant


def tenant_by_slug(*, slug: str) -> Tenant:
    """The tenant called ``slug``; raises NotFound."""
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise NotFound(f"no tenant {slug!r}") from None


def all_tenants() -> QuerySet[Tenant]:
    """Every tenant, by slug (for platform operators and the CLI)."""
    return Tenant.objects.order_by("slug")


def active_tenants_among(slugs: Iterable[str]) -> dict[str, Tenant]:
    """The active tenants whose slugs are among ``slugs``, in one query: {slug: tenant}."""
    return {t.slug: t for t in Tenant.objects.filter(active=True, slug__in=list(slugs))}


def tenants_for_user(*, user) -> QuerySet[Tenant]:
    """The active tenants ``user`` is a member of, by slug."""
    return Tenant.objects.filter(memberships__user=user, active=True).order_by("slug")


def membership_for(*, tenant: Tenant, user) -> Membership | None:
    """``user``'s membership in ``tenant``, or None."""
    return Membership.objects.filter(tenant=tenant, user=user).first()


def members_for(*, tenant: Tenant) -> QuerySet[Membership]:
    """The tenant's memberships, by username."""
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")


def tokens_for(*, tenant: Tenant) -> QuerySet[ApiToken]:
    """The tenant's API tokens, newest first (revoked and expired ones included)."""
    return ApiToken.objects.filter(tenant=tenant).order_by("-created", "-id")


def token_for(*, tenant: Tenant, token_id: int) -> ApiToken:
    """The tenant's token ``token_id``; raises NotFound (also for another tenant's token)."""
    try:
        return ApiToken.objects.select_related("tenant").get(tenant=tenant, pk=token_id)
    except ApiToken.DoesNotExist:
        raise NotFound("token not found") from None


def audit_entries_for(*, tenant: Tenant, limit: int = 100) -> QuerySet[AuditEntry]:
    """The tenant's latest ``limit`` audit entries, newest first."""
    return AuditEntry.objects.filter(tenant=tenant).order_by("-created", "-id")[:limit]


def audit_entries(*, tenant: Tenant, actor: str = "", action: str = "") -> QuerySet[AuditEntry]:
    """The tenant's audit entries, newest first, narrowed to one actor and one action when given."""
    entries = AuditEntry.objects.filter(tenant=tenant)
    if actor:
        entries = entries.filter(actor=actor)
    if action:
        entries = entries.filter(action=action)
    return entries.order_by("-created", "-id")


def audit_actors_and_actions(*, tenant: Tenant) -> tuple[list[str], list[str]]:
    """The distinct actors and actions of the tenant's audit trail, sorted (for the filter's choices)."""
    entries = AuditEntry.objects.filter(tenant=tenant)
    actors = list(entries.order_by("actor").values_list("actor", flat=True).distinct()[:500])
    actions = list(entries.order_by("action").values_list("action", flat=True).distinct()[:500])
    return actors, actions


def tenant_by_id(*, tenant_id: int) -> Tenant:
    """The tenant with primary key ``tenant_id`` (a token's tenant); raises NotFound."""
    try:
        return Tenant.objects.get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise NotFound("tenant not found") from None


# The session key holding the sign-in generation a session began in (see SignInGeneration).
GENERATION_SESSION_KEY = "codeq_sign_in_generation"


def sessions_group(*, user_id: int) -> str:
    """The channel-layer group of one user's live sockets, told when their sessions end."""
    return f"sessions.user-{user_id}"


def sign_in_generation(*, user_id: int) -> int:
    """The user's current sign-in generation (0 until they are first signed out everywhere)."""
    return SignInGeneration.objects.filter(user_id=user_id).values_list("generation", flat=True).first() or 0


def access_events(*, username: str = "", kind: str = "", ip_address: str = "") -> QuerySet[AccessEvent]:
    """The access log, newest first, narrowed to one username, kind and address when given."""
    events = AccessEvent.objects.all()
    if username:
        events = events.filter(username=username)
    if kind:
        events = events.filter(kind=kind)
    if ip_address:
        events = events.filter(ip_address=ip_address)
    return events.order_by("-created", "-id")


def access_kinds() -> list[tuple[str, str]]:
    """Every kind of access event with its label (for the filter's choices)."""
    return list(AccessEvent.Kind.choices)


def failed_sign_ins() -> QuerySet[AccessAttempt]:
    """Failed sign-ins still counted by the throttle (within the lockout time), latest first: one row per
    username, address and user agent, with its number of failures."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(attempt_time__gte=since).order_by("-attempt_time")
