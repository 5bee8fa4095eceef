"""A suspended tenant's webhook events wait in the store and are sent once it is reactivated."""

from __future__ import annotations

import pytest

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from codeq_platform.webhooks.deliveries import move_outbox
from codeq_platform.webhooks.models import Delivery
from tenants import lifecycle

pytestmark = pytest.mark.django_db


def test_events_of_a_suspended_tenant_pause_and_move_after_reactivation(tenant):
    kv.register_tenant(tenant.slug, tenant.shards)
    engine = kv.sync_engine()
    task = engine.enqueue(tenant.slug, NewTask("render", {"n": 1}, webhook="https://hooks.example.com/x")).task
    engine.claim(tenant.slug, "w", ["render"])
    engine.complete(tenant.slug, task.id, "w", {"ok": True})

    lifecycle.suspend(tenant=tenant, actor="staff")
    move_outbox()
    assert not Delivery.objects.exists()
    assert [e.task_id for e in engine.outbox([tenant.slug])] == [task.id]

    lifecycle.reactivate(tenant=tenant, actor="staff")
    move_outbox()
    assert list(Delivery.objects.values_list("task_id", flat=True)) == [task.id]
    assert engine.outbox([tenant.slug]) == []
