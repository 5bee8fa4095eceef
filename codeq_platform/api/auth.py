"""Bearer-token authentication and the roles of the API.

A request carries ``Authorization: Bearer <JWT>``. The JWT must be HS256-signed with the platform's key,
name the platform as issuer and point (``sub`` = jti, ``tenantId`` = slug) at a token row that exists, is
not revoked or expired, has the JWT's role and belongs to an active tenant. The row is read through a
short-lived cache (``tenants.selectors.token_grant``), so each request costs one cache read, not a query.

The endpoint frame (``endpoint.py``) calls ``aauthenticate_bearer`` and ``ensure_role`` for every route;
they raise ``Unauthenticated`` (401) and ``Forbidden`` (403) of the platform's error tree.

Each process keeps its own copy of verified tokens and grants for at most ``CODEQ_TOKEN_CACHE_SECONDS``:
a request on the hot path then costs an HMAC check at most and no thread hop, and a revocation still
takes effect within that time everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone

from codeq_platform import errors
from codeq_platform.base import db
from codeq_platform.errors import Forbidden, Unauthenticated
from tenants import bearer, selectors, services

PRODUCER = "producer"
WORKER = "worker"
ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, a role and a token."""

    tenant_slug: str
    tenant_id: int
    role: str
    token_id: int
    token_name: str
    jti: str
    max_payload_bytes: int = 256 * 1024
    max_body_bytes: int = 1024 * 1024
    max_queued_tasks: int = 0
    requests_per_second: int = 0
    shards: int = 1
    monthly_task_quota: int = 0

    is_authenticated = True

    @property
    def worker_id(self) -> str:
        """The identity that holds leases: one token shared by several processes is one pool worker."""
        return f"token:{self.jti}"

    @property
    def actor(self) -> str:
        """The name written in audit entries."""
        return f"token:{self.token_name}"


_verified: dict[str, dict[str, Any]] = {}
_grants: dict[tuple[str, str], tuple[float, selectors.TokenGrant | None]] = {}


async def aauthenticate_bearer(authorization: bytes | str | None) -> Principal:
    """The principal of an ``Authorization`` header value; raises Unauthenticated."""
    token = _bearer_of(authorization)
    claims = _verified.get(token)
    if claims is None:
        claims = _verified_claims(token)
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[token] = claims
    elif "exp" in claims and claims["exp"] <= time.time():
        raise Unauthenticated("token expired")
    key = (claims[bearer.TENANT_CLAIM], claims["sub"])
    cached = _grants.get(key)
    now = time.monotonic()
    if cached is not None and now - cached[0] < settings.CODEQ_TOKEN_CACHE_SECONDS:
        return _principal(cached[1], claims)
    # On Django's sync thread, as its ORM wants; this runs once per token and cache period.
    grant = await db.run(selectors.token_grant, tenant_slug=key[0], jti=key[1])
    if len(_grants) > 10_000:
        _grants.clear()
    _grants[key] = (now, grant)
    principal = _principal(grant, claims)
    await db.run(services.note_token_use, token_id=principal.token_id, jti=principal.jti, at=timezone.now())
    return principal


def forget_cached_grants() -> None:
    """Drop this process's copies of tokens and grants (tests that change settings use it)."""
    _verified.clear()
    _grants.clear()


def _principal(grant: selectors.TokenGrant | None, claims: dict[str, Any]) -> Principal:
    if grant is None:
        raise Unauthenticated("unknown token")
    if grant.revoked:
        raise Unauthenticated("token revoked")
    if grant.expires_at is not None and grant.expires_at <= timezone.now():
        raise Unauthenticated("token expired")
    if not grant.tenant_active:
        raise errors.TenantSuspended("tenant suspended")
    if grant.role != claims[bearer.ROLE_CLAIM]:
        raise Unauthenticated("invalid token")
    return Principal(
        tenant_slug=grant.tenant_slug,
        tenant_id=grant.tenant_id,
        role=grant.role,
        token_id=grant.token_id,
        token_name=grant.name,
        jti=grant.jti,
        max_payload_bytes=grant.max_payload_bytes,
        max_body_bytes=grant.max_body_bytes,
        max_queued_tasks=grant.max_queued_tasks,
        requests_per_second=grant.requests_per_second,
        shards=grant.shards,
        monthly_task_quota=grant.monthly_task_quota,
    )


def ensure_role(principal: Principal, roles: Collection[str]) -> None:
    """Raise Forbidden unless ``principal``'s role is one of ``roles``."""
    if principal.role not in roles:
        raise Forbidden("forbidden")


def _bearer_of(authorization: bytes | str | None) -> str:
    if isinstance(authorization, bytes):
        try:
            authorization = authorization.decode("ascii")
        except UnicodeDecodeError:
            raise Unauthenticated("malformed authorization header") from None
    parts = (authorization or "").split()
    if not parts:
        raise Unauthenticated("missing bearer token")
    if parts[0].lower() != "bearer":
        raise Unauthenticated("authorization scheme must be Bearer")
    if len(parts) != 2:
        raise Unauthenticated("malformed authorization header")
    return parts[1]


def _verified_claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            bearer.signing_key(),
            algorithms=[bearer.ALGORITHM],
            issuer=bearer.issuer(),
            options={"require": list(bearer.REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("invalid token") from None
    if not all(isinstance(claims[name], str) for name in ("sub", bearer.TENANT_CLAIM, bearer.ROLE_CLAIM)):
        raise Unauthenticated("invalid token")
    return claims
