"""The console's session checks: a session signed out everywhere ends; a second factor owed is asked for."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from tenants import second_factor, selectors


class SignInMiddleware:
    """A session stamped with an older sign-in generation than its user's is flushed: the request goes on
    anonymous (a page then asks to log in). A signed-in request renews the session's idle time, writing the
    session at most once a minute (a tenth of the idle time, if that is shorter)."""

    RENEWED_KEY = "codeq_renewed"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            if session_is_current(request.session, request.user.pk):
                self._renew(request.session)
            else:
                request.session.flush()
                request.user = AnonymousUser()
        return self.get_response(request)

    def _renew(self, session) -> None:
        now = int(time.time())
        if now - session.get(self.RENEWED_KEY, 0) >= min(60, max(1, settings.SESSION_COOKIE_AGE // 10)):
            session[self.RENEWED_KEY] = now  # a modified session is saved with a new expiry


def session_is_current(session, user_id: int) -> bool:
    """The session began in the user's current sign-in generation."""
    return session.get(selectors.GENERATION_SESSION_KEY) == selectors.sign_in_generation(user_id=user_id)


class SecondFactorMiddleware:
    """The console and the admin ask a signed-in user who owes a second factor for it first: a code if
    they have set one up, an authenticator if they must have one. Other paths (the API, health) have
    their own authentication and are not touched."""

    PROTECTED = ("/dashboard/", "/admin/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and request.path.startswith(self.PROTECTED):
            step = second_factor.pending_step(request.user, request.session.get(DEVICE_ID_SESSION_KEY))
            if step is not None and request.path not in (reverse(f"dashboard:2fa-{step}"), reverse("dashboard:logout")):
                return redirect(f"{reverse(f'dashboard:2fa-{step}')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
