"""A second factor for signing in: an authenticator app's codes (TOTP) and recovery codes (django-otp).

Staff must have one when ``CODEQ_REQUIRE_2FA`` is ``staff`` (everyone when ``all``); anyone else may set
one up, and once set up it is asked for at every sign-in. A user has at most one confirmed authenticator.
Recovery codes are single-use; making new ones replaces the old. Every change, pass and failure is
written to the access log.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import AccessEvent
from tenants.services import Client, record_access

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"


def required_for(user) -> bool:
    """Whether ``user`` may not use the console without a second factor."""
    return settings.CODEQ_REQUIRE_2FA == "all" or (settings.CODEQ_REQUIRE_2FA == "staff" and user.is_staff)


def authenticator(user) -> TOTPDevice | None:
    """The user's confirmed authenticator, if they have set one up."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_authenticator(user) -> TOTPDevice:
    """The authenticator being set up: a new secret, kept until a code from it confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=RECOVERY).count()


def is_enrolled(user) -> bool:
    return authenticator(user) is not None


def wait_seconds(user) -> int:
    """How long the user must wait before their next code is looked at: django-otp doubles the wait after
    each wrong code (1 s, 2 s, 4 s ...). 0 when a code may be tried now."""
    now = timezone.now()
    waits = [0.0]
    for device in [*TOTPDevice.objects.filter(user=user), *StaticDevice.objects.filter(user=user)]:
        allowed, why = device.verify_is_allowed()
        if not allowed and why and why.get("locked_until"):
            waits.append((why["locked_until"] - now).total_seconds())
    return math.ceil(max(waits))


def confirm_authenticator(*, user, code: str, client: Client) -> list[str] | None:
    """Confirm the pending authenticator with a code from it; the new recovery codes, or None if the code
    is wrong. The authenticator replaces any earlier one."""
    device = pending_authenticator(user)
    if not device.verify_token(code.strip()):
        record_access(kind=AccessEvent.Kind.OTP_FAILED, user=user, client=client, detail={"step": "setup"})
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    record_access(kind=AccessEvent.Kind.OTP_ENROLLED, user=user, client=client)
    return new_recovery_codes(user=user, client=client)


def new_recovery_codes(*, user, client: Client) -> list[str]:
    """Replace the user's recovery codes with new ones, returned to be shown once."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    record_access(kind=AccessEvent.Kind.RECOVERY_CODES, user=user, client=client)
    return codes


def verify(*, user, code: str, client: Client) -> Device | None:
    """The device that accepts ``code`` (an authenticator code or an unused recovery code), or None."""
    code = code.strip().replace(" ", "")
    totp = authenticator(user)
    if totp is not None and code.isdigit() and totp.verify_token(code):
        record_access(kind=AccessEvent.Kind.OTP_VERIFIED, user=user, client=client, detail={"with": AUTHENTICATOR})
        return totp
    recovery = StaticDevice.objects.filter(user=user, name=RECOVERY).first()
    if recovery is not None and recovery.verify_token(code.lower()):
        left = recovery_codes_left(user)
        record_access(
            kind=AccessEvent.Kind.OTP_VERIFIED, user=user, client=client,
            detail={"with": "recovery code", "left": left},
        )  # fmt: skip
        return recovery
    record_access(kind=AccessEvent.Kind.OTP_FAILED, user=user, client=client)
    return None


def remove(*, user, client: Client, actor: str = "") -> None:
    """Remove the user's authenticator and recovery codes."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    record_access(kind=AccessEvent.Kind.OTP_REMOVED, user=user, client=client, actor=actor)


def session_verified(user, device_id: str | None) -> bool:
    """Whether a session that passed the second factor with ``device_id`` (django-otp's session value) still
    holds it: the device exists and is the user's."""
    device = Device.from_persistent_id(device_id) if device_id else None
    return device is not None and device.user_id == user.pk


def pending_step(user, device_id: str | None) -> str | None:
    """What a signed-in session still owes: ``verify`` (a code), ``setup`` (an authenticator), or None."""
    if session_verified(user, device_id):
        return None
    if is_enrolled(user):
        return "verify"
    if required_for(user):
        return "setup"
    return None
