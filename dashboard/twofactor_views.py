"""The second factor's pages: setting up an authenticator, giving a code at sign-in, recovery codes.

Recovery codes are rendered into the response that made them and never shown again. The middleware
sends a user here when their session owes a code (or, when it is required of them, an authenticator).
"""

from __future__ import annotations

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from tenants import second_factor
from tenants.receivers import client_of


class CodeForm(forms.Form):
    code = forms.CharField(max_length=32, label="Code", widget=forms.TextInput(attrs={
        "autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "spellcheck": "false",
    }))  # fmt: skip


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if allowed else settings.LOGIN_REDIRECT_URL


def _too_soon(wait: int) -> str:
    return f"Too many wrong codes: try again in {wait} second{'s' if wait != 1 else ''}. This code was not checked."


@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Scan the secret into an authenticator app, then prove it with a code: recovery codes follow."""
    device = second_factor.pending_authenticator(request.user)
    form = CodeForm(request.POST or None)
    if form.is_valid() and (wait := second_factor.wait_seconds(request.user)):
        form.add_error("code", _too_soon(wait))
    elif form.is_valid():
        codes = second_factor.confirm_authenticator(
            user=request.user, code=form.cleaned_data["code"], client=client_of(request)
        )
        if codes is not None:
            otp_login(request, second_factor.authenticator(request.user))
            request.session.cycle_key()
            return render(request, "dashboard/recovery_codes.html", {"codes": codes, "next": _next(request)})
        form.add_error("code", "That code is not the one the app shows now. Check the app and try again.")
    secret = device.config_url.split("secret=")[1].split("&")[0]
    context = {
        "form": form,
        "secret": secret,
        "qr": segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#111827", light="#ffffff"),
        "required": second_factor.required_for(request.user),
        "next": _next(request),
    }
    return render(request, "dashboard/2fa_setup.html", context)


@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    form = CodeForm(request.POST or None)
    if form.is_valid() and (wait := second_factor.wait_seconds(request.user)):
        form.add_error("code", _too_soon(wait))
    elif form.is_valid():
        device = second_factor.verify(user=request.user, code=form.cleaned_data["code"], client=client_of(request))
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()
            if device.name == second_factor.RECOVERY:
                left = second_factor.recovery_codes_left(request.user)
                messages.warning(request, f"You signed in with a recovery code; {left} left. Make new ones on "
                                          "your account page if you are running out.")  # fmt: skip
            return redirect(_next(request))
        form.add_error("code", "That code is not valid (an authenticator code works once, a recovery code too).")
    return render(request, "dashboard/2fa_verify.html", {"form": form, "next": _next(request)})


@login_required
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, shown once; the old ones stop working."""
    if not second_factor.is_enrolled(request.user):
        return redirect("dashboard:account")
    codes = second_factor.new_recovery_codes(user=request.user, client=client_of(request))
    return render(request, "dashboard/recovery_codes.html", {"codes": codes, "next": "/dashboard/account/"})


@login_required
@require_POST
def remove(request: HttpRequest) -> HttpResponse:
    """Turn the second factor off, unless it is required of this user."""
    if second_factor.required_for(request.user):
        messages.error(request, "A second factor is required of your account: set up a new one instead.")
    else:
        second_factor.remove(user=request.user, client=client_of(request))
        messages.success(request, "Second factor removed: signing in asks for your password only.")
    return redirect("dashboard:account")
