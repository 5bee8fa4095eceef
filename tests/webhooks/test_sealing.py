"""Webhook secrets are stored sealed: a copy of the database alone does not let anyone sign as us."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from codeq_platform.webhooks import sealing, services
from codeq_platform.webhooks.models import WebhookSubscription
from codeq_platform.webhooks.secrets import tenant_secrets

KEY_1, KEY_2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored(table: str, pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret, previous_secret FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


def subscribe(tenant) -> tuple[WebhookSubscription, str]:
    created = services.create_webhook_subscription(tenant=tenant, url="https://hooks.example.com/a",
                                                   events=["task.completed"])  # fmt: skip
    return created.subscription, created.secret


@pytest.mark.django_db
def test_secrets_are_stored_sealed_and_read_in_clear(tenant):
    subscription, secret = subscribe(tenant)
    services.rotate_webhook_secret(subscription=subscription, grace_seconds=3600)
    current = WebhookSubscription.objects.get(pk=subscription.pk)

    assert current.signing_secrets()[1] == secret and current.signing_secrets()[0].startswith("whsec_")
    raw = stored(WebhookSubscription._meta.db_table, subscription.pk)
    assert all("whsec_" not in value for value in raw) and secret not in raw

    signing = tenant_secrets(tenant.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_signingsecret WHERE tenant_id = %s", [tenant.pk])
        assert cursor.fetchone()[0] != signing[0]


@pytest.mark.django_db
def test_a_sealing_key_rolls_over_with_reseal(tenant, settings):
    settings.CODEQ_SEALING_KEYS = KEY_1
    subscription, secret = subscribe(tenant)

    settings.CODEQ_SEALING_KEYS = f"{KEY_2},{KEY_1}"
    assert WebhookSubscription.objects.get(pk=subscription.pk).secret == secret
    call_command("codeq_reseal", stdout=io.StringIO())

    settings.CODEQ_SEALING_KEYS = KEY_2
    assert WebhookSubscription.objects.get(pk=subscription.pk).secret == secret


@pytest.mark.django_db
def test_a_lost_sealing_key_is_a_clear_configuration_error(tenant, settings):
    settings.CODEQ_SEALING_KEYS = KEY_1
    subscription, _ = subscribe(tenant)
    settings.CODEQ_SEALING_KEYS = KEY_2
    with pytest.raises(ImproperlyConfigured, match="does not open with the configured keys"):
        WebhookSubscription.objects.get(pk=subscription.pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_seals_secrets_stored_in_clear_and_reversing_it_opens_them(tenant):
    executor = MigrationExecutor(connection)
    executor.migrate([("tenants", "0003_schedule")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tenants_webhooksubscription (tenant_id, url, events, commands, secret, previous_secret,"
                " active, paused_reason, created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP)",
                [tenant.pk, "https://hooks.example.com/a", '["task.completed"]', "[]", "whsec_clear", "", True, ""],
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM tenants_webhooksubscription WHERE tenant_id = %s", [tenant.pk])
            (pk,) = cursor.fetchone()
        executor = MigrationExecutor(connection)
        executor.migrate([("tenants", "0004_sealed_secrets")])
        sealed = stored("tenants_webhooksubscription", pk)[0]
        assert sealed != "whsec_clear" and sealing.unseal(sealed) == "whsec_clear"

        executor = MigrationExecutor(connection)
        executor.migrate([("tenants", "0003_schedule")])
        assert stored("tenants_webhooksubscription", pk)[0] == "whsec_clear"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
