"""Model rules: slug shape, limits and their defaults, one membership per user and tenant, webhook lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import Tenant
from tests.factories import MembershipFactory, TenantFactory, WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", ["a", "acme", "acme-eu-1", "0day", "a" * 63])
def test_valid_slugs_pass_validation(slug):
    Tenant(slug=slug, name="x").full_clean()


@pytest.mark.parametrize("slug", ["", "-acme", "Acme", "acme_eu", "acme.eu", "acme eu", "a" * 64, "{t:1}", "é"])
def test_invalid_slugs_are_rejected(slug):
    with pytest.raises(ValidationError) as rejected:
        Tenant(slug=slug, name="x").full_clean()

    assert "slug" in rejected.value.message_dict


def test_new_tenant_gets_the_default_limits():
    tenant = TenantFactory()

    assert tenant.active is True
    assert tenant.max_payload_bytes == 256 * 1024
    assert tenant.max_body_bytes == 1024 * 1024
    assert tenant.max_queued_tasks == 1_000_000
    assert tenant.requests_per_second == 1000
    assert tenant.result_retention_seconds == 86400
    assert tenant.dlq_retention_seconds == 7 * 86400
    assert tenant.shards == 1


@pytest.mark.parametrize("shards", [0, 65])
def test_shards_outside_1_to_64_are_rejected_by_validation_and_database(shards):
    with pytest.raises(ValidationError):
        Tenant(slug="acme", shards=shards).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.create(slug="acme", shards=shards)


def test_a_user_has_one_membership_per_tenant():
    membership = MembershipFactory()

    with pytest.raises(IntegrityError):
        MembershipFactory(user=membership.user, tenant=membership.tenant, role="admin")


@pytest.mark.parametrize(
    ("events", "commands"),
    [([], []), (["task.exploded"], []), ("task.completed", []), (["task.completed"], [""])],
)
def test_webhook_events_and_commands_are_validated(events, commands):
    subscription = WebhookSubscriptionFactory.build(tenant=TenantFactory(), events=events, commands=commands)

    with pytest.raises(ValidationError):
        subscription.full_clean()


def test_webhook_url_must_be_http_or_https():
    subscription = WebhookSubscriptionFactory.build(tenant=TenantFactory(), url="ftp://hooks.example.com/x")

    with pytest.raises(ValidationError) as rejected:
        subscription.full_clean()

    assert "url" in rejected.value.message_dict


def test_previous_webhook_secret_signs_only_until_it_expires():
    now = timezone.now()
    subscription = WebhookSubscriptionFactory(
        secret="whsec_new", previous_secret="whsec_old", previous_secret_expires_at=now + timedelta(minutes=5)
    )

    assert subscription.signing_secrets(now) == ["whsec_new", "whsec_old"]
    assert subscription.signing_secrets(now + timedelta(minutes=6)) == ["whsec_new"]
