"""The bearer JWT format: claims, algorithm, key and issuer, shared by minting (here) and verification (api).

A bearer token is an HS256 JWT whose ``sub`` is an ApiToken row's ``jti``. It carries no secret of the row:
the platform's signature proves it was minted here, and the row decides whether it is still valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from tenants.models import ApiToken

ALGORITHM = "HS256"
TENANT_CLAIM = "tenantId"
ROLE_CLAIM = "role"
REQUIRED_CLAIMS = ("iss", "sub", "iat", TENANT_CLAIM, ROLE_CLAIM)
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash


def signing_key() -> str:
    """The HMAC key (``CODEQ_JWT_SECRET``, default ``SECRET_KEY``); refuses to sign or verify with none or
    with one shorter than the hash, which would make forging a bearer token cheaper than it must be."""
    key = settings.CODEQ_JWT_SECRET
    if not key:
        raise ImproperlyConfigured("Set CODEQ_JWT_SECRET (or SECRET_KEY) to sign and verify bearer tokens.")
    if len(key.encode()) < MIN_KEY_BYTES:
        raise ImproperlyConfigured(
            f"CODEQ_JWT_SECRET (or SECRET_KEY) must be at least {MIN_KEY_BYTES} bytes to sign bearer tokens."
        )
    return key


def issuer() -> str:
    """The ``iss`` every token carries and every verification requires."""
    return settings.CODEQ_JWT_ISSUER


def mint(token: ApiToken) -> str:
    """The bearer JWT for ``token``; it expires with the row (no ``exp`` when the row never expires)."""
    claims = {
        "iss": issuer(),
        "sub": token.jti,
        TENANT_CLAIM: token.tenant.slug,
        ROLE_CLAIM: token.role,
        "iat": int(token.created.timestamp()),
    }
    if token.expires_at is not None:
        claims["exp"] = int(token.expires_at.timestamp())
    return jwt.encode(claims, signing_key(), algorithm=ALGORITHM)
