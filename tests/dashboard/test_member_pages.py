"""The members page and the invitation link: admins only, invitations by mail that work once and expire,
roles and removal audited, and a tenant never left without an admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tenants.models import AuditEntry, Invitation, Membership
from tests.dashboard.forms import login_as, submit
from tests.factories import MembershipFactory, UserFactory

NEW_PASSWORD = "correct-horse-battery-staple"


def url(tenant) -> str:
    return f"/dashboard/t/{tenant.slug}/members/"


def invite(admin: Client, tenant, email: str, role: str, mailoutbox) -> str:
    """Invite ``email`` as ``role`` through the page; returns the link path from the email sent."""
    response = submit(admin, url(tenant), {"action": "invite", "email": email, "role": role}, follow=True)
    assert response.status_code == 200, response.content.decode()
    assert f"Invited {email} as {role}; the link works for 7 days." in response.content.decode()
    message = mailoutbox[-1]
    assert message.to == [email]
    return re.search(r"http://testserver(/dashboard/invitations/\S+/)", message.body).group(1)


def accept_with_new_account(link: str, username: str):
    visitor = Client(enforce_csrf_checks=True)
    visitor.get("/dashboard/login/")  # the CSRF cookie, also when the link's own page is a refusal
    return submit(visitor, link, {"action": "create", "username": username, "password1": NEW_PASSWORD,
                                  "password2": NEW_PASSWORD}, follow=True)  # fmt: skip


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_cannot_see_or_manage_members(tenant, role, mailoutbox):
    client = login_as(tenant, role)
    target = MembershipFactory(tenant=tenant, role="viewer")
    assert client.get(url(tenant)).status_code == 403
    client.get(f"/dashboard/t/{tenant.slug}/audit/")
    for data in ({"action": "invite", "email": "eve@example.com", "role": "admin"},
                 {"action": "role", "membership_id": target.pk, "role": "admin"},
                 {"action": "remove", "membership_id": target.pk, "confirmed": "yes"}):  # fmt: skip
        assert submit(client, url(tenant), data).status_code == 403
    target.refresh_from_db()
    assert target.role == "viewer"
    assert not Invitation.objects.exists() and not mailoutbox
    assert "Members</a>" not in client.get(f"/dashboard/t/{tenant.slug}/audit/").content.decode()


def test_another_tenants_admin_gets_not_found(tenant, foreign_tenant):
    assert login_as(foreign_tenant, "admin").get(url(tenant)).status_code == 404


def test_an_invitation_creates_an_account_that_joins_with_the_role(tenant, mailoutbox):
    admin = login_as(tenant, "admin", username="ada")
    link = invite(admin, tenant, "bob@example.com", "operator", mailoutbox)
    assert "bob@example.com" in admin.get(url(tenant)).content.decode()

    welcome = accept_with_new_account(link, "bob")
    assert welcome.redirect_chain[-1][0] == f"/dashboard/t/{tenant.slug}/"
    assert "you are operator here" in welcome.content.decode()
    bob = get_user_model().objects.get(username="bob")
    assert bob.email == "bob@example.com" and bob.check_password(NEW_PASSWORD)
    assert Membership.objects.get(tenant=tenant, user=bob).role == "operator"
    actions = list(AuditEntry.objects.filter(tenant=tenant).order_by("id").values_list("action", "actor", "target"))
    assert actions == [("invitation.send", "ada", "bob@example.com"), ("invitation.accept", "bob", "bob")]


def test_a_logged_in_user_joins_with_their_account(tenant, foreign_tenant, mailoutbox):
    link = invite(login_as(tenant, "admin"), tenant, "carol@example.com", "viewer", mailoutbox)
    carol = login_as(foreign_tenant, "admin", username="carol")
    page = carol.get(link)
    assert "Join as carol" in page.content.decode()
    joined = submit(carol, link, {"action": "join"}, follow=True)
    assert joined.redirect_chain[-1][0] == f"/dashboard/t/{tenant.slug}/"
    assert Membership.objects.get(tenant=tenant, user__username="carol").role == "viewer"


def test_a_link_works_once(tenant, mailoutbox):
    link = invite(login_as(tenant, "admin"), tenant, "dan@example.com", "viewer", mailoutbox)
    accept_with_new_account(link, "dan")
    again = accept_with_new_account(link, "dan2")
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert not get_user_model().objects.filter(username="dan2").exists()


def test_an_expired_link_is_refused(tenant, mailoutbox):
    link = invite(login_as(tenant, "admin"), tenant, "erin@example.com", "viewer", mailoutbox)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(link).status_code == 410
    response = accept_with_new_account(link, "erin")
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert not get_user_model().objects.filter(username="erin").exists()


def test_a_revoked_link_is_refused_and_the_revocation_audited(tenant, mailoutbox):
    admin = login_as(tenant, "admin", username="ada")
    link = invite(admin, tenant, "fay@example.com", "admin", mailoutbox)
    invitation = Invitation.objects.get()
    done = submit(admin, url(tenant), {"action": "revoke", "invitation_id": invitation.pk}, follow=True)
    assert "Revoked the invitation of fay@example.com." in done.content.decode()
    assert accept_with_new_account(link, "fay").status_code == 410
    assert AuditEntry.objects.filter(tenant=tenant, action="invitation.revoke", actor="ada").count() == 1


def test_an_altered_link_is_not_found(tenant, mailoutbox):
    link = invite(login_as(tenant, "admin"), tenant, "gus@example.com", "viewer", mailoutbox)
    assert Client().get(link.replace("/invitations/", "/invitations/x")).status_code == 404
    assert Client().get("/dashboard/invitations/not-a-token/").status_code == 404


def test_a_weak_password_or_a_taken_username_is_a_400(tenant, mailoutbox):
    UserFactory(username="taken")
    link = invite(login_as(tenant, "admin"), tenant, "hal@example.com", "viewer", mailoutbox)
    visitor = Client(enforce_csrf_checks=True)
    weak = submit(visitor, link, {"action": "create", "username": "hal", "password1": "123", "password2": "123"})
    assert weak.status_code == 400 and "too short" in weak.content.decode()
    taken = submit(visitor, link, {"action": "create", "username": "taken", "password1": NEW_PASSWORD,
                                   "password2": NEW_PASSWORD})  # fmt: skip
    assert taken.status_code == 400 and "already exists" in taken.content.decode()
    assert Invitation.objects.get().status() == "pending"


def test_a_bad_invitation_form_is_a_400_and_sends_nothing(tenant, mailoutbox):
    admin = login_as(tenant, "admin")
    response = submit(admin, url(tenant), {"action": "invite", "email": "not-an-address", "role": "owner"})
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not mailoutbox and not Invitation.objects.exists()


def test_an_address_with_a_pending_invitation_is_not_invited_twice(tenant, mailoutbox):
    admin = login_as(tenant, "admin")
    invite(admin, tenant, "ivy@example.com", "viewer", mailoutbox)
    again = submit(admin, url(tenant), {"action": "invite", "email": "IVY@example.com", "role": "admin"})
    assert again.status_code == 400 and "already has a pending invitation" in again.content.decode()
    assert len(mailoutbox) == 1


def test_changing_a_role_is_audited(tenant):
    admin = login_as(tenant, "admin", username="ada")
    member = MembershipFactory(tenant=tenant, role="viewer", user=UserFactory(username="jo"))
    done = submit(admin, url(tenant), {"action": "role", "membership_id": member.pk, "role": "operator"}, follow=True)
    assert "jo is now operator." in done.content.decode()
    member.refresh_from_db()
    assert member.role == "operator"
    entry = AuditEntry.objects.get(tenant=tenant, action="member.role")
    assert (entry.actor, entry.target, entry.detail) == ("ada", "jo", {"before": "viewer", "after": "operator"})


def test_removing_asks_first_then_removes_and_audits(tenant):
    admin = login_as(tenant, "admin", username="ada")
    member = MembershipFactory(tenant=tenant, role="operator", user=UserFactory(username="kim"))
    confirm = submit(admin, url(tenant), {"action": "remove", "membership_id": member.pk})
    assert "Remove kim from acme?" in confirm.content.decode()
    assert Membership.objects.filter(pk=member.pk).exists()
    done = submit(admin, url(tenant), {"action": "remove", "membership_id": member.pk, "confirmed": "yes"},
                  follow=True)  # fmt: skip
    assert "Removed kim." in done.content.decode()
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert AuditEntry.objects.filter(tenant=tenant, action="member.remove", actor="ada", target="kim").count() == 1


def test_the_last_admin_can_be_neither_demoted_nor_removed(tenant):
    admin = login_as(tenant, "admin", username="ada")
    own = Membership.objects.get(tenant=tenant, user__username="ada")
    demoted = submit(admin, url(tenant), {"action": "role", "membership_id": own.pk, "role": "viewer"}, follow=True)
    assert "ada is the last admin of acme and cannot be demoted" in demoted.content.decode()
    removed = submit(admin, url(tenant), {"action": "remove", "membership_id": own.pk, "confirmed": "yes"},
                     follow=True)  # fmt: skip
    assert "cannot be removed" in removed.content.decode()
    own.refresh_from_db()
    assert own.role == "admin"
    assert not AuditEntry.objects.filter(action__in=["member.role", "member.remove"]).exists()


def test_an_admin_may_step_down_when_another_admin_remains(tenant):
    admin = login_as(tenant, "admin", username="ada")
    MembershipFactory(tenant=tenant, role="admin")
    own = Membership.objects.get(tenant=tenant, user__username="ada")
    response = submit(admin, url(tenant), {"action": "role", "membership_id": own.pk, "role": "viewer"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    own.refresh_from_db()
    assert own.role == "viewer"
    assert admin.get(url(tenant)).status_code == 403


@pytest.mark.parametrize("data", [
    {"action": "role", "membership_id": "x", "role": "viewer"},
    {"action": "role", "membership_id": "1", "role": "owner"},
    {"action": "remove", "membership_id": ""},
    {"action": "revoke", "invitation_id": "nope"},
    {"action": "shout"},
])  # fmt: skip
def test_bad_input_is_a_4xx(tenant, data):
    response = submit(login_as(tenant, "admin"), url(tenant), data)
    assert response.status_code in (400, 404)


def test_another_tenants_member_cannot_be_touched_from_here(tenant, foreign_tenant):
    theirs = MembershipFactory(tenant=foreign_tenant, role="viewer")
    response = submit(login_as(tenant, "admin"), url(tenant), {"action": "role", "membership_id": theirs.pk,
                                                                "role": "admin"})  # fmt: skip
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == "viewer"


def test_a_tenant_name_with_line_breaks_still_makes_a_one_line_subject(tenant, mailoutbox):
    tenant.name = "Acme\r\nBcc: everyone@example.com"
    tenant.save()
    invite(login_as(tenant, "admin"), tenant, "lou@example.com", "viewer", mailoutbox)
    assert mailoutbox[-1].subject == "You are invited to Acme Bcc: everyone@example.com on codeQ"
    assert mailoutbox[-1].recipients() == ["lou@example.com"]
