"""The Django admin lists every control-plane model and never shows a webhook secret."""

from __future__ import annotations

import pytest

from tests.factories import (
    ApiTokenFactory,
    AuditEntryFactory,
    MembershipFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "page",
    ["tenants/tenant", "tenants/membership", "tenants/apitoken", "webhooks/webhooksubscription", "tenants/auditentry"],
)
def test_changelist_renders(admin_client, tenant, page):
    MembershipFactory(tenant=tenant)
    ApiTokenFactory(tenant=tenant)
    WebhookSubscriptionFactory(tenant=tenant)
    AuditEntryFactory(tenant=tenant)

    assert admin_client.get(f"/admin/{page}/").status_code == 200


def test_webhook_change_page_hides_the_secrets(admin_client, tenant):
    subscription = WebhookSubscriptionFactory(tenant=tenant, secret="whsec_current", previous_secret="whsec_old")

    page = admin_client.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/").content.decode()

    assert subscription.url in page
    assert "whsec_current" not in page and "whsec_old" not in page


def test_revoke_action_revokes_through_the_service(admin_client, tenant):
    token = ApiTokenFactory(tenant=tenant, name="leaked")

    admin_client.post("/admin/tenants/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})

    token.refresh_from_db()
    assert token.status() == "revoked"
    assert tenant.audit_entries.get().action == "token.revoke"
