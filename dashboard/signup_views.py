"""Self-service sign-up, when ``CODEQ_SIGNUP=open``: one form for an account and a tenant, confirmed by email.

With sign-up closed every page here answers 404. The login page links to the form when it is open.
"""

from __future__ import annotations

import logging
import smtplib

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from codeq_platform.errors import NotFound
from tenants import signup
from tenants.models import slug_validator

log = logging.getLogger("codeq.dashboard")


class SignupForm(UserCreationForm):
    slug = forms.CharField(
        max_length=63, validators=[slug_validator], label="Tenant slug",
        help_text="Part of every key and URL of your tenant; it never changes. a-z, 0-9 and '-'.",
    )  # fmt: skip
    name = forms.CharField(max_length=200, required=False, label="Tenant name")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["slug"].widget.attrs.update(autocapitalize="none", spellcheck="false")


def _require_open() -> None:
    if not signup.is_open():
        raise Http404("sign-up is closed")


def signup_page(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: check it, keep it, mail the confirmation link (rate limited per address)."""
    _require_open()
    form = SignupForm()
    status = 200
    if request.method == "POST":
        if not signup.allow_attempt(request.META.get("REMOTE_ADDR", "")):
            message = "Too many sign-ups from your address; try again in an hour."
            return render(request, "dashboard/error.html", {"title": "Too many sign-ups", "message": message},
                          status=429)  # fmt: skip
        form = SignupForm(request.POST)
        if form.is_valid() and _start(request, form):
            return render(request, "dashboard/signup_sent.html", {"email": form.cleaned_data["email"]})
        status = 400
    return render(request, "dashboard/signup.html", {"form": form}, status=status)


def _start(request: HttpRequest, form: SignupForm) -> bool:
    def link_for(token: str) -> str:
        return request.build_absolute_uri(reverse("dashboard:signup_confirm", kwargs={"token": token}))

    data = form.cleaned_data
    try:
        signup.start(username=data["username"], email=data["email"], password=data["password1"], slug=data["slug"],
                     name=data["name"], link_for=link_for)  # fmt: skip
    except ValidationError as error:
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
        return False
    except (smtplib.SMTPException, OSError):
        log.exception("could not send a sign-up confirmation to %s", data["email"])
        form.add_error(None, "The confirmation email could not be sent. Try again later.")
        return False
    return True


def signup_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what will be created. POST: create the account and the tenant, log in, open the tenant."""
    _require_open()
    try:
        pending = signup.pending_for(token)
        if request.method == "POST":
            user, tenant = signup.complete(token)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome! Your tenant {tenant.slug} is ready; you are its admin.")
            return redirect("dashboard:overview", tenant=tenant.slug)
    except NotFound as error:
        return render(request, "dashboard/error.html", {"title": "Link not valid", "message": error.message},
                      status=404)  # fmt: skip
    except ValidationError as error:
        message = " ".join(error.messages) + " Sign up again with another name."
        return render(request, "dashboard/error.html", {"title": "Name taken", "message": message}, status=409)
    return render(request, "dashboard/signup_confirm.html", {"pending": pending})
