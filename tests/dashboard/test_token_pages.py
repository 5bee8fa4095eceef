"""The tokens page: admins only; a new bearer shown once and working; revocation confirmed and audited."""

from __future__ import annotations

import re

import pytest

from tenants.models import ApiToken, AuditEntry
from tests.dashboard.forms import login_as, submit
from tests.factories import ApiTokenFactory


def url(tenant) -> str:
    return f"/dashboard/t/{tenant.slug}/tokens/"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_see_or_issue_tokens(tenant, role):
    client = login_as(tenant, role)
    assert client.get(url(tenant)).status_code == 403
    client.get(f"/dashboard/t/{tenant.slug}/audit/")
    response = submit(client, url(tenant), {"action": "create", "name": "sneaky", "role": "admin"})
    assert response.status_code == 403
    assert not ApiToken.objects.filter(name="sneaky").exists()


def test_a_foreign_tenants_tokens_are_not_found(tenant, foreign_tenant):
    ApiTokenFactory(tenant=tenant, name="ours")
    outsider = login_as(foreign_tenant, "admin")
    assert outsider.get(url(tenant)).status_code == 404


def test_the_list_shows_each_tokens_status(tenant):
    ApiTokenFactory(tenant=tenant, name="pool-a", role="worker")
    ApiTokenFactory(tenant=tenant, name="old-one", role="producer", revoked_at="2026-01-01T00:00Z")
    text = login_as(tenant, "admin").get(url(tenant)).content.decode()
    assert "pool-a" in text and "old-one" in text and "revoked" in text and "active" in text


def test_issuing_redirects_then_shows_the_bearer_once_and_it_works(tenant, client):
    admin = login_as(tenant, "admin", username="ada")
    issued = submit(admin, url(tenant), {"action": "create", "name": "resize-pool", "role": "worker"})
    assert (issued.status_code, issued["Location"]) == (302, url(tenant))
    page = admin.get(url(tenant))
    bearer = re.search(r'data-testid="new-bearer">.*?<code>([^<]+)</code>', page.content.decode(), re.S).group(1)
    claim = client.post("/v1/codeq/tasks/claim", {"commands": ["x"]}, content_type="application/json",
                        headers={"Authorization": f"Bearer {bearer}"})  # fmt: skip
    assert claim.status_code == 204
    assert bearer not in admin.get(url(tenant)).content.decode()
    entry = AuditEntry.objects.get(tenant=tenant, action="token.issue")
    assert entry.actor == "ada" and entry.target == "token:resize-pool"


def test_a_bad_token_form_is_a_400_with_the_reason(tenant):
    page = submit(login_as(tenant, "admin"), url(tenant), {"action": "create", "name": "", "role": "root"})
    assert page.status_code == 400
    text = page.content.decode()
    assert "This field is required." in text and "Select a valid choice." in text
    assert not ApiToken.objects.exists()


def test_revoking_asks_first_then_refuses_the_token(tenant):
    token = ApiTokenFactory(tenant=tenant, name="leaky")
    admin = login_as(tenant, "admin")
    confirm = submit(admin, url(tenant), {"action": "revoke", "token_id": token.pk})
    assert confirm.status_code == 200 and "Revoke the token “leaky”?" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    done = submit(admin, url(tenant), {"action": "revoke", "token_id": token.pk, "confirmed": "yes"}, follow=True)
    assert "Revoked the token “leaky”." in done.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEntry.objects.filter(tenant=tenant, action="token.revoke").count() == 1


def test_another_tenants_token_cannot_be_revoked_from_here(tenant, foreign_tenant):
    theirs = ApiTokenFactory(tenant=foreign_tenant)
    response = submit(login_as(tenant, "admin"), url(tenant), {"action": "revoke", "token_id": theirs.pk,
                                                                "confirmed": "yes"})  # fmt: skip
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_issuing_without_the_csrf_token_is_refused(tenant):
    response = login_as(tenant, "admin").post(url(tenant), {"action": "create", "name": "x", "role": "worker"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_the_list_is_paginated_newest_first(tenant):
    ApiTokenFactory.create_batch(51, tenant=tenant)
    admin = login_as(tenant, "admin")

    first = admin.get(url(tenant)).content.decode()
    second = admin.get(url(tenant), {"page": 2}).content.decode()

    assert first.count('name="token_id"') == 50 and second.count('name="token_id"') == 1
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "token-" in second and re.search(r"<td>token-\d+</td>", second)
