"""Signing in to the console: the login form with its throttle, and the page of a lockout.

django-axes counts failures per username and per address and locks either out at
``AXES_FAILURE_LIMIT`` (the right password included) for ``AXES_COOLOFF_TIME``. Before that the form
slows down: from ``CODEQ_LOGIN_SLOWDOWN_AFTER`` failures on, the next try must wait 1 s after the last
failure, twice as long after each further one, at most ``CODEQ_LOGIN_SLOWDOWN_CAP_SECONDS``. A try that
comes too soon is refused without checking the password, so it counts as no failure.
"""

from __future__ import annotations

import math

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from tenants import services, signup
from tenants.models import AccessEvent
from tenants.receivers import client_of

TOO_MANY = 429


def seconds_to_wait(request: HttpRequest, username: str) -> int:
    """How long ``request`` must still wait before trying ``username`` again (0: it may try now)."""
    credentials = {"username": username}
    failures = AxesProxyHandler.get_failures(request, credentials)
    if failures < settings.CODEQ_LOGIN_SLOWDOWN_AFTER:
        return 0
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    last = max(filter(None, (a.order_by("-attempt_time").values_list("attempt_time", flat=True).first()
                             for a in attempts)))  # fmt: skip
    pause = min(2 ** (failures - settings.CODEQ_LOGIN_SLOWDOWN_AFTER), settings.CODEQ_LOGIN_SLOWDOWN_CAP_SECONDS)
    return max(0, math.ceil(pause - (timezone.now() - last).total_seconds()))


class SignInView(LoginView):
    """Django's login view behind the throttle's waiting time."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        # A link to the sign-up form while self-service sign-up is open.
        return {**super().get_context_data(**kwargs), "signup_open": signup.is_open()}

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        wait = seconds_to_wait(request, username)
        if not wait:
            return super().post(request, *args, **kwargs)
        services.record_access(
            kind=AccessEvent.Kind.THROTTLED, username=username, client=client_of(request), detail={"wait": wait}
        )
        form = AuthenticationForm(request, initial={"username": username})
        context = self.get_context_data(form=form, wait_seconds=wait)
        return self.render_to_response(context, status=TOO_MANY)


def locked_out(request: HttpRequest, *args) -> HttpResponse:
    """django-axes' lockout answer: the login page saying for how long, with status 429."""
    username = request.POST.get("username", "")
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": request.POST.get("next", ""),
        "lockout_minutes": minutes,
    }
    return render(request, "dashboard/login.html", context, status=TOO_MANY)
