"""Selectors read one tenant's objects only; another tenant's object is not found."""

from __future__ import annotations

import pytest

from codeq_platform.errors import NotFound
from codeq_platform.webhooks import selectors as webhook_selectors
from tenants import selectors
from tests.factories import (
    ApiTokenFactory,
    AuditEntryFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def test_tokens_for_lists_only_the_tenants_tokens(tenant, foreign_tenant):
    own = ApiTokenFactory(tenant=tenant)
    ApiTokenFactory(tenant=foreign_tenant)

    assert list(selectors.tokens_for(tenant=tenant)) == [own]


def test_another_tenants_token_is_not_found(tenant, foreign_tenant):
    foreign = ApiTokenFactory(tenant=foreign_tenant)

    with pytest.raises(NotFound):
        selectors.token_for(tenant=tenant, token_id=foreign.pk)


def test_tenants_for_user_lists_active_memberships_by_slug():
    user = UserFactory()
    for slug in ("zeta", "alpha"):
        MembershipFactory(user=user, tenant=TenantFactory(slug=slug))
    MembershipFactory(user=user, tenant=TenantFactory(slug="closed", active=False))
    TenantFactory(slug="stranger")

    assert [t.slug for t in selectors.tenants_for_user(user=user)] == ["alpha", "zeta"]


def test_membership_for_is_none_for_a_non_member(tenant):
    member = MembershipFactory(tenant=tenant, role="operator")

    assert selectors.membership_for(tenant=tenant, user=member.user).role == "operator"
    assert selectors.membership_for(tenant=tenant, user=UserFactory()) is None


def test_subscriptions_for_event_match_event_and_command(tenant, foreign_tenant):
    every = WebhookSubscriptionFactory(tenant=tenant, events=["task.completed", "task.dead"])
    billing = WebhookSubscriptionFactory(tenant=tenant, events=["task.completed"], commands=["Billing"])
    WebhookSubscriptionFactory(tenant=tenant, events=["task.completed"], active=False)
    WebhookSubscriptionFactory(tenant=tenant, events=["task.failed"])
    WebhookSubscriptionFactory(tenant=foreign_tenant, events=["task.completed"])

    assert webhook_selectors.subscriptions_for_event(tenant=tenant, event="task.completed", command="billing") == [
        every,
        billing,
    ]
    assert webhook_selectors.subscriptions_for_event(tenant=tenant, event="task.completed", command="email") == [every]


def test_audit_entries_for_returns_the_tenants_latest_first(tenant, foreign_tenant):
    first = AuditEntryFactory(tenant=tenant, action="dlq.replay")
    second = AuditEntryFactory(tenant=tenant, action="dlq.delete")
    AuditEntryFactory(tenant=foreign_tenant)

    assert list(selectors.audit_entries_for(tenant=tenant)) == [second, first]
