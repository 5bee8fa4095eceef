"""A tenant's members as its admins manage them: invitations, roles, removal, and the last admin's guard.

An invitation is a row (``Invitation``) and a link that carries its nonce signed with the project's
secret key (salt ``INVITATION_SALT``), so a link cannot be made up or altered. It works once, until
``CODEQ_INVITATION_DAYS`` have passed or an admin revokes it; whoever opens it either creates an
account there (the address invited becomes the account's email) or joins with the account they are
logged in with. A tenant always keeps at least one admin: a change that would leave it without one
is refused (``Conflict``), with the tenant row locked so two admins demoting each other cannot both
succeed. Every change is written to the tenant's audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from codeq_platform.errors import Conflict, NotFound
from tenants import services
from tenants.models import Invitation, Membership, Tenant

INVITATION_SALT = "codeq.invitation"
ADMIN = Membership.Role.ADMIN


def invite(*, tenant: Tenant, email: str, role: str, actor: str, link_for: Callable[[str], str]) -> Invitation:
    """Invite ``email`` to ``tenant`` as ``role`` and mail them the link ``link_for(token)``.

    Refused (ValidationError on ``email``) for an address that is already a member's or has a pending
    invitation. If the mail cannot be sent, nothing is kept.
    """
    email = get_user_model().objects.normalize_email(email.strip())
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {tenant.slug}."})
    pending = Invitation.objects.filter(tenant=tenant, email__iexact=email, accepted_at=None, revoked_at=None,
                                        expires_at__gt=timezone.now())  # fmt: skip
    if pending.exists():
        raise ValidationError({"email": f"{email} already has a pending invitation; revoke it to send a new one."})
    now = timezone.now()
    invitation = Invitation(tenant=tenant, email=email, role=role, invited_by=actor, created=now,
                            expires_at=now + timedelta(days=settings.CODEQ_INVITATION_DAYS))  # fmt: skip
    invitation.full_clean()
    with transaction.atomic():
        invitation.save()
        services.record_audit(tenant=tenant, actor=actor, action="invitation.send", target=email,
                              detail={"role": role, "invitationId": invitation.pk})  # fmt: skip
        context = {"invitation": invitation, "tenant": tenant, "link": link_for(token_of(invitation))}
        send_mail(
            subject=f"You are invited to {' '.join((tenant.name or tenant.slug).split())} on codeQ",
            message=render_to_string("tenants/email/invitation.txt", context),
            from_email=None,
            recipient_list=[email],
        )
    return invitation


def token_of(invitation: Invitation) -> str:
    """The signed token of ``invitation``'s link."""
    return signing.dumps(invitation.nonce, salt=INVITATION_SALT)


def invitation_for(token: str) -> Invitation:
    """The invitation a link's token names, whatever its status; NotFound for a token that is not ours."""
    try:
        nonce = signing.loads(token, salt=INVITATION_SALT)
    except signing.BadSignature:
        raise NotFound("This invitation link is not valid.") from None
    invitation = Invitation.objects.select_related("tenant").filter(nonce=nonce).first()
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    return invitation


def accept(*, invitation: Invitation, user) -> Membership:
    """``user`` (saved by the caller, in the same transaction when new) joins the tenant with the invited
    role; the invitation is used up. Conflict if it is no longer pending or ``user`` is already a member."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        status = locked.status()
        if status != "pending":
            raise Conflict(f"This invitation has been {status}.")
        if Membership.objects.filter(tenant=locked.tenant, user=user).exists():
            raise Conflict(f"You are already a member of {locked.tenant.slug}.")
        membership = Membership.objects.create(tenant=locked.tenant, user=user, role=locked.role)
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        services.record_audit(tenant=locked.tenant, actor=user.get_username(), action="invitation.accept",
                              target=user.get_username(),
                              detail={"role": locked.role, "email": locked.email, "invitedBy": locked.invited_by,
                                      "invitationId": locked.pk})  # fmt: skip
    return membership


def revoke(*, tenant: Tenant, invitation_id: int, actor: str) -> Invitation:
    """Revoke a pending invitation of ``tenant``; its link stops working. NotFound for another tenant's."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(tenant=tenant, pk=invitation_id).first()
        if invitation is None:
            raise NotFound("No such invitation here.")
        status = invitation.status()
        if status != "pending":
            raise Conflict(f"This invitation has already been {status}.")
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        services.record_audit(tenant=tenant, actor=actor, action="invitation.revoke", target=invitation.email,
                              detail={"invitationId": invitation.pk})  # fmt: skip
    return invitation


def pending_invitations(*, tenant: Tenant):
    """The tenant's invitations still waiting for an answer, newest first."""
    return Invitation.objects.filter(tenant=tenant, accepted_at=None, revoked_at=None,
                                     expires_at__gt=timezone.now()).order_by("-created", "-id")  # fmt: skip


def member(*, tenant: Tenant, membership_id: int) -> Membership:
    """The tenant's membership ``membership_id``; NotFound for another tenant's."""
    found = Membership.objects.select_related("user").filter(tenant=tenant, pk=membership_id).first()
    if found is None:
        raise NotFound("No such member here.")
    return found


def change_role(*, tenant: Tenant, membership_id: int, role: str, actor: str) -> Membership:
    """Give a member another role; refused if it would leave the tenant without an admin."""
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).get()
        membership = member(tenant=tenant, membership_id=membership_id)
        if membership.role == role:
            return membership
        if membership.role == ADMIN:
            _keep_an_admin(tenant, membership, "demoted")
        before = membership.role
        membership.role = role
        membership.full_clean()
        membership.save(update_fields=["role"])
        services.record_audit(tenant=tenant, actor=actor, action="member.role", target=membership.user.get_username(),
                              detail={"before": before, "after": role})  # fmt: skip
    return membership


def remove(*, tenant: Tenant, membership_id: int, actor: str) -> Membership:
    """Remove a member; refused for the tenant's last admin. A person left with no membership is signed
    out everywhere."""
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).get()
        membership = member(tenant=tenant, membership_id=membership_id)
        if membership.role == ADMIN:
            _keep_an_admin(tenant, membership, "removed")
        membership.delete()
        services.record_audit(tenant=tenant, actor=actor, action="member.remove",
                              target=membership.user.get_username(), detail={"role": membership.role})  # fmt: skip
    # Their last membership gone, the person's sessions end (staff keep theirs: they see every tenant).
    user = membership.user
    if not user.is_staff and not Membership.objects.filter(user=user).exists():
        services.sign_out_everywhere(user=user, actor=actor, reason="last membership removed")
    return membership


def _keep_an_admin(tenant: Tenant, leaving: Membership, verb: str) -> None:
    if not Membership.objects.filter(tenant=tenant, role=ADMIN).exclude(pk=leaving.pk).exists():
        raise Conflict(f"{leaving.user.get_username()} is the last admin of {tenant.slug} and cannot be {verb}; "
                       "make another member an admin first.")  # fmt: skip
