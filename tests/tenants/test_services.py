"""Services: tokens hold no secret and are audited, members and webhook secrets change as asked."""

from __future__ import annotations

import base64
from datetime import timedelta

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.forms.models import model_to_dict
from django.utils import timezone

from codeq_platform.errors import NotFound
from codeq_platform.webhooks import services as webhook_services
from codeq_platform.webhooks.models import WebhookSubscription
from tenants import selectors, services
from tests.conftest import JWT_SECRET
from tests.factories import ApiTokenFactory, UserFactory, WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db


def test_create_tenant_validates_the_slug():
    with pytest.raises(ValidationError):
        services.create_tenant(slug="Not Valid")

    tenant = services.create_tenant(slug="acme", shards=4)
    assert (tenant.name, tenant.shards) == ("acme", 4)


def test_issued_bearer_carries_the_contract_claims(tenant):
    issued = services.issue_token(tenant=tenant, name="ci", role="producer", expires_in_days=30)

    claims = jwt.decode(issued.bearer, JWT_SECRET, algorithms=["HS256"], issuer="codeq-platform")
    assert claims["sub"] == issued.token_row.jti
    assert (claims["tenantId"], claims["role"]) == ("acme", "producer")
    assert claims["exp"] == int(issued.token_row.expires_at.timestamp())
    assert issued.token_row.expires_at - issued.token_row.created == timedelta(days=30)


def test_no_token_is_issued_with_a_signing_key_shorter_than_the_hash(tenant, settings):
    settings.CODEQ_JWT_SECRET = "k" * 31
    with pytest.raises(ImproperlyConfigured, match="at least 32 bytes"):
        services.issue_token(tenant=tenant, name="ci", role="producer")
    assert not selectors.tokens_for(tenant=tenant).exists()


def test_token_without_lifetime_has_no_exp(tenant):
    issued = services.issue_token(tenant=tenant, name="ci", role="worker")

    claims = jwt.decode(issued.bearer, JWT_SECRET, algorithms=["HS256"], issuer="codeq-platform")
    assert "exp" not in claims
    assert issued.token_row.expires_at is None


def test_the_bearer_is_stored_nowhere(tenant):
    issued = services.issue_token(tenant=tenant, name="ci", role="admin")

    stored = " ".join(str(value) for value in model_to_dict(issued.token_row).values())
    signature = issued.bearer.rsplit(".", 1)[1]
    assert issued.bearer not in stored
    assert signature not in stored


@pytest.mark.parametrize(("role", "days"), [("superuser", None), ("producer", 0), ("producer", -1)])
def test_issue_token_rejects_bad_role_or_lifetime(tenant, role, days):
    with pytest.raises(ValidationError):
        services.issue_token(tenant=tenant, name="ci", role=role, expires_in_days=days)

    assert not selectors.tokens_for(tenant=tenant).exists()


def test_issue_and_revoke_are_audited(tenant):
    issued = services.issue_token(tenant=tenant, name="ci", role="worker", actor="alice")
    services.revoke_token(token_id=issued.token_row.pk, actor="bob")

    entries = [(e.actor, e.action, e.target) for e in selectors.audit_entries_for(tenant=tenant)]
    assert entries == [("bob", "token.revoke", "token:ci"), ("alice", "token.issue", "token:ci")]


def test_revoking_twice_keeps_the_first_revocation_time(tenant):
    token = ApiTokenFactory(tenant=tenant)
    first = services.revoke_token(token_id=token.pk).revoked_at

    again = services.revoke_token(token_id=token.pk)

    assert again.revoked_at == first
    assert again.status() == "revoked"


def test_revoking_another_tenants_token_is_not_found(tenant, foreign_tenant):
    foreign = ApiTokenFactory(tenant=foreign_tenant)

    with pytest.raises(NotFound):
        services.revoke_token(token_id=foreign.pk, tenant=tenant)

    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_add_member_creates_then_changes_the_role(tenant):
    user = UserFactory(username="carol")

    services.add_member(tenant=tenant, user=user, role="viewer")
    services.add_member(tenant=tenant, user=user, role="operator")

    assert [(m.user.username, m.role) for m in selectors.members_for(tenant=tenant)] == [("carol", "operator")]


def test_add_member_rejects_an_unknown_role(tenant):
    with pytest.raises(ValidationError):
        services.add_member(tenant=tenant, user=UserFactory(), role="owner")


def test_webhook_secret_is_whsec_and_24_random_bytes(tenant):
    created = webhook_services.create_webhook_subscription(
        tenant=tenant, url="https://hooks.example.com/codeq", events=["task.completed"], commands=["billing"]
    )

    assert created.secret.startswith("whsec_")
    assert len(base64.b64decode(created.secret.removeprefix("whsec_"))) == 24
    assert created.subscription.signing_secrets() == [created.secret]
    assert created.secret not in str(created.subscription)


def test_webhook_subscription_rejects_unknown_events(tenant):
    with pytest.raises(ValidationError):
        webhook_services.create_webhook_subscription(tenant=tenant, url="https://h.example.com", events=["task.lost"])


def test_rotation_keeps_the_old_secret_for_the_grace_period(tenant):
    subscription = WebhookSubscriptionFactory(tenant=tenant, secret="whsec_old")

    new = webhook_services.rotate_webhook_secret(subscription=subscription, grace_seconds=300)

    subscription.refresh_from_db()
    assert new != "whsec_old" and new.startswith("whsec_")
    assert subscription.signing_secrets() == [new, "whsec_old"]
    assert subscription.signing_secrets(timezone.now() + timedelta(seconds=301)) == [new]


def test_two_rotations_from_copies_read_before_either_keep_the_first_rotations_secret(tenant):
    """Two admins rotate the same subscription at once, each from the page they loaded before."""
    first_copy = WebhookSubscriptionFactory(tenant=tenant, secret="whsec_old")
    second_copy = WebhookSubscription.objects.get(pk=first_copy.pk)

    first = webhook_services.rotate_webhook_secret(subscription=first_copy, grace_seconds=300)
    second = webhook_services.rotate_webhook_secret(subscription=second_copy, grace_seconds=300)

    second_copy.refresh_from_db()
    assert second_copy.previous_secret == first
    assert second_copy.signing_secrets() == [second, first]


def test_rotation_without_grace_drops_the_old_secret_at_once(tenant):
    subscription = WebhookSubscriptionFactory(tenant=tenant, secret="whsec_old")

    new = webhook_services.rotate_webhook_secret(subscription=subscription, grace_seconds=0)

    subscription.refresh_from_db()
    assert subscription.signing_secrets() == [new]


def test_record_audit_stores_task_ids_and_detail(tenant):
    services.record_audit(
        tenant=tenant,
        actor="token:ops",
        action="dlq.replay",
        target="command:billing",
        task_ids=("t1", "t2"),
        detail={"count": 2},
    )

    entry = selectors.audit_entries_for(tenant=tenant).get()
    assert (entry.actor, entry.task_ids, entry.detail) == ("token:ops", ["t1", "t2"], {"count": 2})
