"""Moving schedules and webhook subscriptions out of the tenants app keeps every row: a database at the
old schema, with rows in it, migrates to today's and the rows read back through the new apps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from codeq_platform.scheduler.models import Schedule
from codeq_platform.webhooks.models import Delivery, WebhookSubscription

BEFORE = [("tenants", "0004_sealed_secrets"), ("webhooks", "0003_delivery_engine_task")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    yield _migrate(BEFORE)
    _migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_read_back_after_it(old_schema):
    apps = old_schema
    tenant = apps.get_model("tenants", "Tenant").objects.create(slug="acme", name="Acme")
    old_subscription = apps.get_model("tenants", "WebhookSubscription").objects.create(
        tenant=tenant, url="https://hooks.example.com/in", events=["task.completed"], secret="whsec_before-the-move"
    )
    apps.get_model("webhooks", "Delivery").objects.create(
        tenant=tenant, subscription=old_subscription, kind="event", event_type="task.completed",
        url="https://hooks.example.com/in", body="{}", max_attempts=8,
    )  # fmt: skip
    next_run = datetime(2027, 1, 1, tzinfo=UTC)
    apps.get_model("tenants", "Schedule").objects.create(
        tenant=tenant, name="nightly", cron="0 3 * * *", command="reports.build", next_run_at=next_run
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    subscription = WebhookSubscription.objects.get(tenant__slug="acme")
    assert subscription.secret == "whsec_before-the-move"
    assert subscription.signing_secrets() == ["whsec_before-the-move"]
    assert Delivery.objects.get(tenant__slug="acme").subscription == subscription
    schedule = Schedule.objects.get(tenant__slug="acme", name="nightly")
    assert (schedule.cron, schedule.command, schedule.next_run_at) == ("0 3 * * *", "reports.build", next_run)
    assert WebhookSubscription._meta.db_table == "webhooks_webhooksubscription"
    assert Schedule._meta.db_table == "scheduler_schedule"
