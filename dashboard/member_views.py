"""The members page of a tenant's admins, and the invitation link's page.

The members page is ``admin`` only, for reading too (it lists people's addresses). Admins invite by
email address with a role, change roles, remove members (confirmed first) and revoke pending
invitations; the tenant's last admin can be neither demoted nor removed. The invitation page needs
no login: a visitor creates an account there, a logged-in user joins with theirs.
"""

from __future__ import annotations

import logging
import smtplib

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from codeq_platform.errors import Conflict, NotFound
from dashboard.access import TenantAccess, tenant_view
from tenants import members, selectors
from tenants.models import Membership

log = logging.getLogger("codeq.dashboard")
ADMIN = Membership.Role.ADMIN


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class RoleForm(forms.Form):
    membership_id = forms.IntegerField()
    role = forms.ChoiceField(choices=Membership.Role.choices)


class AccountForm(UserCreationForm):
    """A new account for the invited address: a username and a password."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _bad_request(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    title = {400: "Bad request", 404: "Not found", 409: "Not possible"}[status]
    return render(request, "dashboard/error.html", {"title": title, "message": message}, status=status)


@tenant_view(ADMIN)
def members_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: members and pending invitations. POST ``action``: ``invite``, ``role``, ``remove``, ``revoke``."""
    tenant = access.tenant
    form = InviteForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "invite":
            form = InviteForm(request.POST)
            if form.is_valid() and _invite(request, access, form):
                return redirect(request.path)
            status = 400
        elif action == "role":
            return _change_role(request, access)
        elif action == "remove":
            return _remove(request, access)
        elif action == "revoke":
            return _revoke(request, access)
        else:
            return _bad_request(request, "unknown action")
    context = {"memberships": selectors.members_for(tenant=tenant), "form": form,
               "invitations": members.pending_invitations(tenant=tenant), "roles": Membership.Role.choices}  # fmt: skip
    return render(request, "dashboard/members.html", context, status=status)


def _invite(request: HttpRequest, access: TenantAccess, form: InviteForm) -> bool:
    def link_for(token: str) -> str:
        return request.build_absolute_uri(reverse("dashboard:invitation", kwargs={"token": token}))

    try:
        invitation = members.invite(
            tenant=access.tenant, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
            actor=_actor(request), link_for=link_for,
        )  # fmt: skip
    except ValidationError as error:
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
        return False
    except (smtplib.SMTPException, OSError):
        log.exception("could not send an invitation to %s", form.cleaned_data["email"])
        form.add_error(None, "The invitation email could not be sent; nothing was saved. Try again later.")
        return False
    messages.success(request, f"Invited {invitation.email} as {invitation.role}; the link works for "
                              f"{(invitation.expires_at - invitation.created).days} days.")  # fmt: skip
    return True


def _membership_id(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("membership_id", ""))
    except ValueError:
        return None


def _change_role(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _bad_request(request, "Choose a member and one of the roles viewer, operator, admin.")
    try:
        membership = members.change_role(tenant=access.tenant, membership_id=form.cleaned_data["membership_id"],
                                         role=form.cleaned_data["role"], actor=_actor(request))  # fmt: skip
    except NotFound as error:
        return _bad_request(request, error.message, 404)
    except Conflict as error:
        messages.error(request, error.message)
        return redirect(request.path)
    messages.success(request, f"{membership.user.get_username()} is now {membership.role}.")
    return _after_change(request, access)


def _remove(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    membership_id = _membership_id(request)
    try:
        membership = members.member(tenant=access.tenant, membership_id=membership_id or 0)
    except NotFound as error:
        return _bad_request(request, error.message, 404)
    name = membership.user.get_username()
    if request.POST.get("confirmed") != "yes":
        return render(request, "dashboard/operator_confirm.html", {
            "title": f"Remove {name} from {access.tenant.slug}?",
            "message": f"{name} ({membership.role}) loses access to this tenant's console at once. "
                       "You can invite them again later.",
            "fields": {"action": "remove", "membership_id": membership.pk}, "button": "Remove", "cancel": request.path,
        })  # fmt: skip
    try:
        members.remove(tenant=access.tenant, membership_id=membership.pk, actor=_actor(request))
    except Conflict as error:
        messages.error(request, error.message)
        return redirect(request.path)
    messages.success(request, f"Removed {name}.")
    return _after_change(request, access)


def _after_change(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Back to the page, or to the console's start when the admin just gave up their own admin role."""
    own = selectors.membership_for(tenant=access.tenant, user=request.user)
    if request.user.is_staff or (own is not None and own.role == ADMIN):
        return redirect(request.path)
    return redirect("dashboard:home")


def _revoke(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    try:
        invitation = members.revoke(tenant=access.tenant, invitation_id=int(request.POST.get("invitation_id", "")),
                                    actor=_actor(request))  # fmt: skip
    except (ValueError, NotFound):
        return _bad_request(request, "No such invitation here.", 404)
    except Conflict as error:
        messages.error(request, error.message)
        return redirect(request.path)
    messages.success(request, f"Revoked the invitation of {invitation.email}.")
    return redirect(request.path)


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the invitation offers. POST ``action=join`` (logged in) or ``action=create`` (a new account)."""
    try:
        found = members.invitation_for(token)
    except NotFound as error:
        return _bad_request(request, error.message, 404)
    if not found.tenant.active:
        return _bad_request(request, "This invitation link is not valid.", 404)
    status = found.status()
    if status != "pending":
        message = {"accepted": "This invitation has already been used.", "revoked": "This invitation was revoked.",
                   "expired": "This invitation has expired."}[status]  # fmt: skip
        message += " Ask an admin of the tenant for a new one."
        return render(request, "dashboard/error.html", {"title": "Invitation not valid", "message": message},
                      status=410)  # fmt: skip
    form = AccountForm()
    if request.method == "POST":
        try:
            if request.user.is_authenticated:
                members.accept(invitation=found, user=request.user)
                return _joined(request, found)
            form = AccountForm(request.POST)
            if form.is_valid():
                with transaction.atomic():
                    user = form.save(commit=False)
                    user.email = found.email
                    user.save()
                    members.accept(invitation=found, user=user)
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return _joined(request, found)
        except Conflict as error:
            return _bad_request(request, error.message, 409)
    context = {
        "invitation": found,
        "form": form,
        "login_url": f"{reverse('dashboard:login')}?{urlencode({'next': request.path})}",
    }
    return render(request, "dashboard/invitation.html", context, status=400 if request.method == "POST" else 200)


def _joined(request: HttpRequest, found) -> HttpResponse:
    messages.success(request, f"Welcome to {found.tenant.name or found.tenant.slug}: you are {found.role} here.")
    return redirect("dashboard:overview", tenant=found.tenant.slug)
