"""The Django admin lists every control-plane model and never shows a webhook secret."""

from __future__ import annotations

import pytest

from tenants import services
from tests.factories import (
    ApiTokenFactory,
    AuditEntryFactory,
    MembershipFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["tenant", "membership", "apitoken", "webhooksubscription", "auditentry"])
def test_changelist_renders(admin_client, tenant, model):
    MembershipFactory(tenant=tenant)
    ApiTokenFactory(tenant=tenant)
    WebhookSubscriptionFactory(tenant=tenant)
    AuditEntryFactory(tenant=tenant)

    assert admin_client.get(f"/admin/tenants/{model}/").status_code == 200


def test_webhook_change_page_hides_the_secrets(admin_client, tenant):
    subscription = WebhookSubscriptionFactory(tenant=tenant, secret="whsec_current", previous_secret="whsec_old")

    page = admin_client.get(f"/admin/tenants/webhooksubscription/{subscription.pk}/change/").content.decode()

    assert subscription.url in page
    assert "whsec_current" not in page and "whsec_old" not in page


def test_revoke_action_revokes_through_the_service(admin_client, tenant):
    token = ApiTokenFactory(tenant=tenant, name="leaked")

    admin_client.post("/admin/tenants/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})

    token.refresh_from_db()
    assert token.status() == "revoked"
    assert tenant.audit_entries.get().action == "token.revoke"


def test_schedules_are_listed_but_written_only_through_the_api(admin_client, tenant):
    spec = services.ScheduleSpec(cron="@daily", command="report")
    schedule = services.put_schedule(tenant=tenant, name="nightly", spec=spec).schedule

    page = admin_client.get("/admin/tenants/schedule/")

    assert page.status_code == 200 and "nightly" in page.content.decode()
    assert admin_client.get("/admin/tenants/schedule/add/").status_code == 403
    admin_client.post(f"/admin/tenants/schedule/{schedule.pk}/change/", {"cron": "* * * * *"})
    schedule.refresh_from_db()
    assert schedule.cron == "@daily"
