"""The access log's ears: Django's and django-axes' sign-in signals become access events.

A new session is stamped with the user's sign-in generation, which the console checks on every request.

A sign-out everywhere follows a password change (a session survives it only through Django's session
hash, which does not reach the live sockets). A logout closes that session's live sockets at once, and a
membership created, changed or removed has its user's sockets check their access again, once committed.
"""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from tenants import selectors, services
from tenants.models import AccessEvent, Membership


def client_of(request: HttpRequest | None) -> services.Client:
    """The address (as the sign-in throttle counts it) and user agent of ``request``."""
    if request is None:
        return services.Client()
    return services.Client(
        ip_address=get_client_ip_address(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
    )


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[selectors.GENERATION_SESSION_KEY] = selectors.sign_in_generation(user_id=user.pk)
    services.record_access(kind=AccessEvent.Kind.LOGIN, user=user, client=client_of(request))


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        services.record_access(kind=AccessEvent.Kind.LOGOUT, user=user, client=client_of(request))
        if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
            services.session_ended(user_id=user.pk, session_key=request.session.session_key)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # django-axes' receiver has run (its app comes first) and counted the failure, unless a lockout was
    # already running: then it refused the try without counting it.
    failures = getattr(request, "axes_failures_since_start", None)
    detail = {"reason": "locked out"} if failures is None else {"failures": failures}
    services.record_access(
        kind=AccessEvent.Kind.LOGIN_FAILED, username=credentials.get("username") or "", client=client_of(request),
        detail=detail,
    )  # fmt: skip


@receiver(user_locked_out)
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    if getattr(request, "axes_failures_since_start", None) is None:
        return  # a try during a lockout, logged as a failure; the lockout was logged when it began
    services.record_access(
        kind=AccessEvent.Kind.LOCKOUT, username=username or "", client=client_of(request),
        detail={"failures": request.axes_failures_since_start},
    )  # fmt: skip


@receiver(pre_save, sender=get_user_model())
def _note_password_change(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    before = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._password_changed = before is not None and before != instance.password


@receiver(post_save, sender=get_user_model())
def _sign_out_after_password_change(sender, instance, created, **kwargs) -> None:
    if getattr(instance, "_password_changed", False):
        instance._password_changed = False
        services.sign_out_everywhere(user=instance, reason="password changed")


@receiver([post_save, post_delete], sender=Membership)
def _membership_changed(sender, instance, **kwargs) -> None:
    user_id = instance.user_id
    transaction.on_commit(lambda: services.access_changed(user_id=user_id))
