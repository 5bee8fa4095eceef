"""Bearer-token authentication and role permissions of the API.

A request carries ``Authorization: Bearer <JWT>``. The JWT must be HS256-signed with the platform's key,
name the platform as issuer and point (``sub`` = jti, ``tenantId`` = slug) at a token row that exists, is
not revoked or expired, has the JWT's role and belongs to an active tenant. The row is read through a
short-lived cache (``tenants.selectors.token_grant``), so each request costs one cache read, not a query.

DRF views use ``BearerTokenAuthentication`` and the permission classes below; async views that do not go
through DRF call ``aauthenticate_bearer`` and ``ensure_role``. Both raise ``InvalidBearer`` (401) and
``Forbidden`` (403), whose body is ``{"error": "<message>"}``.

The async face keeps each process's own copy of verified tokens and grants for at most
``CODEQ_TOKEN_CACHE_SECONDS``: a request on the hot path then costs an HMAC check at most and no
thread hop, and a revocation still takes effect within that time everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from codeq_platform import errors
from codeq_platform.base import db
from tenants import bearer, selectors, services

PRODUCER = "producer"
WORKER = "worker"
ADMIN = "admin"


class InvalidBearer(exceptions.AuthenticationFailed):
    """401: no usable bearer token; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__({"error": message}, code="invalid_token")
        self.message = message


class Forbidden(exceptions.PermissionDenied):
    """403: the token is valid but its role may not call this endpoint."""

    message = "forbidden"

    def __init__(self) -> None:
        super().__init__({"error": self.message}, code="forbidden")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, a role and a token. Set as both ``request.user`` and ``request.auth``."""

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


def authenticate_bearer(authorization: bytes | str | None) -> Principal:
    """The principal of an ``Authorization`` header value; raises InvalidBearer."""
    claims = _verified_claims(_bearer_of(authorization))
    grant = selectors.token_grant(tenant_slug=claims[bearer.TENANT_CLAIM], jti=claims["sub"])
    principal = _principal(grant, claims)
    services.note_token_use(token_id=grant.token_id, jti=grant.jti, at=timezone.now())
    return principal


_verified: dict[str, dict] = {}
_grants: dict[tuple[str, str], tuple[float, selectors.TokenGrant | None]] = {}


async def aauthenticate_bearer(authorization: bytes | str | None) -> Principal:
    """The asyncio face of ``authenticate_bearer``, for async views."""
    token = _bearer_of(authorization)
    claims = _verified.get(token)
    if claims is None:
        claims = _verified_claims(token)
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[token] = claims
    elif "exp" in claims and claims["exp"] <= time.time():
        raise InvalidBearer("token expired")
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
    await db.run(services.note_token_use, token_id=grant.token_id, jti=grant.jti, at=timezone.now())
    return principal


def forget_cached_grants() -> None:
    """Drop this process's copies of tokens and grants (tests that change settings use it)."""
    _verified.clear()
    _grants.clear()


def _principal(grant: selectors.TokenGrant | None, claims: dict) -> Principal:
    if grant is None:
        raise InvalidBearer("unknown token")
    if grant.revoked:
        raise InvalidBearer("token revoked")
    if grant.expires_at is not None and grant.expires_at <= timezone.now():
        raise InvalidBearer("token expired")
    if not grant.tenant_active:
        raise errors.TenantSuspended("tenant suspended")
    if grant.role != claims[bearer.ROLE_CLAIM]:
        raise InvalidBearer("invalid token")
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
        raise Forbidden()


def _bearer_of(authorization: bytes | str | None) -> str:
    if isinstance(authorization, bytes):
        try:
            authorization = authorization.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidBearer("malformed authorization header") from None
    parts = (authorization or "").split()
    if not parts:
        raise InvalidBearer("missing bearer token")
    if parts[0].lower() != "bearer":
        raise InvalidBearer("authorization scheme must be Bearer")
    if len(parts) != 2:
        raise InvalidBearer("malformed authorization header")
    return parts[1]


def _verified_claims(token: str) -> dict:
    try:
        claims = jwt.decode(
            token,
            bearer.signing_key(),
            algorithms=[bearer.ALGORITHM],
            issuer=bearer.issuer(),
            options={"require": list(bearer.REQUIRED_CLAIMS)},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidBearer("token expired") from None
    except jwt.InvalidTokenError:
        raise InvalidBearer("invalid token") from None
    if not all(isinstance(claims[name], str) for name in ("sub", bearer.TENANT_CLAIM, bearer.ROLE_CLAIM)):
        raise InvalidBearer("invalid token")
    return claims


class BearerTokenAuthentication(BaseAuthentication):
    """DRF authentication by platform bearer token. Strict: a request without one is refused (401)."""

    def authenticate(self, request) -> tuple[Principal, Principal]:
        principal = authenticate_bearer(get_authorization_header(request))
        return principal, principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="codeq"'


class RolePermission(BasePermission):
    """Allows the roles in ``roles``; any other valid token gets 403 ``{"error": "forbidden"}``."""

    roles: frozenset[str] = frozenset()

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, Principal):
            raise InvalidBearer("missing bearer token")
        ensure_role(request.auth, self.roles)
        return True


class CanProduce(RolePermission):
    """Create tasks (and batches): producers and admins."""

    roles = frozenset({PRODUCER, ADMIN})


class CanWork(RolePermission):
    """Claim, heartbeat, abandon, nack, report results and progress, subscribe: workers and admins."""

    roles = frozenset({WORKER, ADMIN})


class CanRead(RolePermission):
    """Get a task or its result: every role."""

    roles = frozenset({PRODUCER, WORKER, ADMIN})


class IsAdmin(RolePermission):
    """``/admin/*`` endpoints: admins only."""

    roles = frozenset({ADMIN})
