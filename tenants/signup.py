"""Self-service sign-up (``CODEQ_SIGNUP=open``): a visitor's account and tenant, made once their address is proven.

The form's answers wait in the cache (the KV store) under a random nonce for
``CODEQ_SIGNUP_LINK_HOURS``, the password already hashed; the visitor is mailed a link carrying the
nonce signed with the secret key. Confirming the link creates the user and the tenant together, with
the tenant's default limits and the user as its admin. Until then nothing exists in the database, so
an address nobody confirms holds no slug and leaves nothing to clean up. The slug and the username are
checked when the form is sent and again at confirmation (someone may have taken them in between).
Each client address may send ``CODEQ_SIGNUP_PER_HOUR`` forms an hour.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from codeq_platform.errors import NotFound
from tenants import lifecycle
from tenants.models import Tenant, TenantDeletion

SIGNUP_SALT = "codeq.signup"
HOUR = 3600


@dataclass(frozen=True)
class PendingSignup:
    """A sign-up waiting for its address to be confirmed."""

    username: str
    email: str
    password_hash: str
    slug: str
    name: str


def is_open() -> bool:
    return settings.CODEQ_SIGNUP == "open"


def allow_attempt(address: str) -> bool:
    """Count one sign-up form from ``address``; False once it has sent its hourly allowance."""
    key = f"signup-attempts:{address}"
    count = 1
    if not cache.add(key, count, timeout=HOUR):
        try:
            count = cache.incr(key)
        except ValueError:  # the hour ran out between the two calls: a new one starts
            cache.set(key, count, timeout=HOUR)
    return count <= settings.CODEQ_SIGNUP_PER_HOUR


def check_available(*, username: str, slug: str, name: str) -> None:
    """ValidationError (on ``slug``, ``name`` or ``username``) unless both are free and the slug is valid."""
    problems: dict[str, list[str]] = {}
    try:
        Tenant(slug=slug, name=name or slug).full_clean()
    except ValidationError as error:
        problems.update(error.message_dict)
    if TenantDeletion.objects.filter(slug=slug, finished__isnull=True).exists():
        problems.setdefault("slug", []).append("A tenant with this slug is still being deleted.")
    users = get_user_model()
    if users.objects.filter(**{f"{users.USERNAME_FIELD}__iexact": username}).exists():
        problems.setdefault("username", []).append("A user with that username already exists.")
    if problems:
        raise ValidationError(problems)


def start(*, username: str, email: str, password: str, slug: str, name: str,
          link_for: Callable[[str], str]) -> None:  # fmt: skip
    """Check the names, keep the sign-up for ``CODEQ_SIGNUP_LINK_HOURS`` and mail the link ``link_for(token)``."""
    check_available(username=username, slug=slug, name=name)
    nonce = secrets.token_hex(16)
    pending = PendingSignup(username=username, email=email, password_hash=make_password(password), slug=slug,
                            name=name or slug)  # fmt: skip
    hours = settings.CODEQ_SIGNUP_LINK_HOURS
    cache.set(_key(nonce), pending.__dict__, timeout=hours * HOUR)
    context = {"pending": pending, "hours": hours, "link": link_for(signing.dumps(nonce, salt=SIGNUP_SALT))}
    send_mail(
        subject="Confirm your codeQ sign-up",
        message=render_to_string("tenants/email/signup.txt", context),
        from_email=None,
        recipient_list=[email],
    )


def pending_for(token: str) -> PendingSignup:
    """The sign-up a link names; NotFound for a link that is not ours, expired or already used."""
    try:
        nonce = signing.loads(token, salt=SIGNUP_SALT, max_age=settings.CODEQ_SIGNUP_LINK_HOURS * HOUR)
    except signing.BadSignature:
        raise NotFound("This sign-up link is not valid, has expired or has been used.") from None
    stored = cache.get(_key(nonce))
    if stored is None:
        raise NotFound("This sign-up link is not valid, has expired or has been used.")
    return PendingSignup(**stored)


def complete(token: str):
    """Create the user and the tenant of a confirmed sign-up; returns (user, tenant). The link is used up
    even when a name turns out to be taken since (ValidationError): the visitor signs up again."""
    pending = pending_for(token)
    if not cache.delete(_key(signing.loads(token, salt=SIGNUP_SALT))):
        raise NotFound("This sign-up link has been used.")
    check_available(username=pending.username, slug=pending.slug, name=pending.name)
    users = get_user_model()
    try:
        with transaction.atomic():
            user = users(**{users.USERNAME_FIELD: pending.username}, email=pending.email,
                         password=pending.password_hash)  # fmt: skip
            user.full_clean()
            user.save()
            tenant, _ = lifecycle.create_tenant_with_admin(slug=pending.slug, name=pending.name,
                                                           admin_username=pending.username,
                                                           actor=pending.username)  # fmt: skip
    except IntegrityError:  # another sign-up took the slug or the username at this very moment
        raise ValidationError({"slug": "This slug or username has just been taken."}) from None
    return user, tenant


def _key(nonce: str) -> str:
    return f"signup:{nonce}"
