"""A tenant's lifecycle against the real store and database: limits, suspension, deletion beside neighbours."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from codeq_platform.base import kv
from codeq_platform.engine import NewTask
from codeq_platform.engine.keys import SubscriptionKeys, rate_key
from codeq_platform.errors import Conflict
from codeq_platform.scheduler.models import Schedule
from codeq_platform.scheduler.stats import history_key
from codeq_platform.webhooks.models import Delivery
from tenants import lifecycle
from tenants.models import ApiToken, AuditEntry, Invitation, Membership, Tenant, TenantDeletion, UsageDay
from tests.factories import ApiTokenFactory, MembershipFactory, TenantFactory, UserFactory, WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_kv_prefix(fresh_kv_prefix: str) -> str:
    return fresh_kv_prefix


def store() -> redis.Redis:
    return redis.Redis.from_url(settings.CODEQ_KV_URL)


def populate(tenant: Tenant, commands: list[str]) -> None:
    """Tasks in every state the store keeps, rate and subscription keys, and rows in every table."""
    kv.register_tenant(tenant.slug, tenant.shards)
    engine = kv.sync_engine()
    for n, command in enumerate(commands * 3):
        engine.enqueue(tenant.slug, NewTask(command, {"n": n}, max_attempts=1, idempotency_key=f"k{n}"))
    for task in engine.claim(tenant.slug, "w", commands, count=2):
        engine.nack(tenant.slug, task.id, "w", reason="dead")
    engine.claim(tenant.slug, "w", commands)
    client = store()
    prefix = settings.CODEQ_KV_PREFIX
    client.set(rate_key(prefix, tenant.slug, 1), 3)
    client.hset(SubscriptionKeys(prefix, tenant.slug).records, "s1", "{}")
    client.rpush(history_key(prefix, tenant.slug), "{}")
    client.close()
    ApiTokenFactory(tenant=tenant)
    MembershipFactory(tenant=tenant)
    AuditEntry.objects.create(tenant=tenant, actor="a", action="x")
    sub = WebhookSubscriptionFactory(tenant=tenant)
    Delivery.objects.create(tenant=tenant, subscription=sub, kind=Delivery.Kind.EVENT, event_type="task.completed",
                            url=sub.url, body="{}", max_attempts=1)  # fmt: skip
    Schedule.objects.create(tenant=tenant, name="nightly", command=commands[0], cron="0 3 * * *")
    UsageDay.objects.create(tenant=tenant, day=date(2026, 1, 1), tasks_created=3)
    Invitation.objects.create(tenant=tenant, email="x@example.com", role="viewer", invited_by="a",
                              expires_at=timezone.now() + timedelta(days=1))  # fmt: skip


def snapshot(slugs: list[str]) -> dict[bytes, bytes]:
    """Every key of the test's prefix that is not the deleted tenant's, with its serialized value."""
    client = store()
    keys = sorted(client.scan_iter(match=f"{settings.CODEQ_KV_PREFIX}:*", count=1000))
    out = {key: client.dump(key) for key in keys if any(f"{{t:{slug}:".encode() in key for slug in slugs)}
    client.close()
    return out


def keys_of(slug: str) -> list[bytes]:
    client = store()
    keys = [
        k
        for k in client.scan_iter(match=f"{settings.CODEQ_KV_PREFIX}:*", count=1000)
        if k.startswith(
            tuple(f"{settings.CODEQ_KV_PREFIX}:{kind}{{t:{slug}:".encode() for kind in ("", "rl:", "ws:", "hist:"))
        )
    ]
    client.close()
    return keys


def rows_of(tenant_id: int) -> dict[str, int]:
    return {model.__name__: model.objects.filter(tenant_id=tenant_id).count()
            for model in (ApiToken, Membership, AuditEntry, Delivery, Schedule, UsageDay, Invitation)}  # fmt: skip


def test_deletion_removes_every_key_and_row_of_the_tenant_and_nothing_of_its_neighbours():
    doomed = TenantFactory(slug="acme", shards=2)
    # Neighbours whose slugs start alike, and one whose command names the doomed tenant's hash tag.
    neighbours = [TenantFactory(slug="acme-eu"), TenantFactory(slug="acm"), TenantFactory(slug="globex")]
    populate(doomed, ["resize", "mail"])
    for neighbour in neighbours:
        populate(neighbour, ["resize", "{t:acme:0}:q"])
    before = snapshot([n.slug for n in neighbours])
    rows_before = {n.pk: rows_of(n.pk) for n in neighbours}
    doomed_keys = len(keys_of("acme"))
    assert doomed_keys and all(rows_of(doomed.pk).values())

    deletion = lifecycle.request_deletion(tenant=doomed, confirm_slug="acme", actor="staff")
    doomed.refresh_from_db()
    assert not doomed.active
    steps = 0
    while deletion.phase != TenantDeletion.Phase.DONE:
        # Each step starts from the saved row, as a scheduler restarted after a crash would.
        deletion = lifecycle.delete_step(TenantDeletion.objects.get(pk=deletion.pk), keys=3, rows=2)
        steps += 1
        assert steps < 500

    assert steps > 10, "the work should have been split into bounded steps"
    assert keys_of("acme") == []
    assert not Tenant.objects.filter(pk=doomed.pk).exists()
    assert set(rows_of(doomed.pk).values()) == {0}
    assert snapshot([n.slug for n in neighbours]) == before
    assert {n.pk: rows_of(n.pk) for n in neighbours} == rows_before
    assert deletion.keys_deleted == doomed_keys and deletion.finished is not None
    assert User.objects.count() == 4, "members' user accounts stay"


def test_deletion_needs_the_slug_typed_and_is_requested_once():
    tenant = TenantFactory(slug="acme")
    with pytest.raises(ValidationError):
        lifecycle.request_deletion(tenant=tenant, confirm_slug="acm", actor="staff")
    tenant.refresh_from_db()
    assert tenant.active and not TenantDeletion.objects.exists()

    first = lifecycle.request_deletion(tenant=tenant, confirm_slug="acme", actor="staff")
    again = lifecycle.request_deletion(tenant=tenant, confirm_slug="acme", actor="staff")
    assert first.pk == again.pk
    with pytest.raises(Conflict):
        lifecycle.reactivate(tenant=tenant, actor="staff")
    with pytest.raises(ValidationError):
        lifecycle.create_tenant_with_admin(slug="acme", name="", admin_username="x", actor="staff")


def test_the_scheduler_job_finishes_a_deletion_and_the_slug_is_free_again():
    tenant = TenantFactory(slug="acme")
    populate(tenant, ["resize"])
    lifecycle.request_deletion(tenant=tenant, confirm_slug="acme", actor="staff")
    while lifecycle.run_deletions():
        pass
    assert TenantDeletion.objects.get().phase == TenantDeletion.Phase.DONE
    assert keys_of("acme") == []
    UserFactory(username="ada")
    again, _ = lifecycle.create_tenant_with_admin(slug="acme", name="", admin_username="ada", actor="staff")
    assert again.active


def test_suspend_and_reactivate_are_audited_and_keep_the_data():
    tenant = TenantFactory(slug="acme")
    populate(tenant, ["resize"])
    keys = sorted(keys_of("acme"))
    lifecycle.suspend(tenant=tenant, actor="staff")
    lifecycle.suspend(tenant=tenant, actor="staff")
    assert sorted(keys_of("acme")) == keys
    lifecycle.reactivate(tenant=tenant, actor="staff")
    actions = list(AuditEntry.objects.filter(tenant=tenant, actor="staff").values_list("action", flat=True))
    assert actions == ["tenant.reactivate", "tenant.suspend"]


def test_a_first_admin_is_an_existing_user_or_an_invited_address(mailoutbox):
    with pytest.raises(ValidationError) as refused:
        lifecycle.create_tenant_with_admin(slug="acme", name="Acme", admin_username="nobody", actor="staff")
    assert "admin_username" in refused.value.message_dict and not Tenant.objects.exists()

    UserFactory(username="ada")
    _, membership = lifecycle.create_tenant_with_admin(slug="acme", name="Acme", admin_username="ada", actor="staff")
    assert membership.role == "admin" and membership.user.username == "ada"

    tenant, invitation = lifecycle.create_tenant_inviting_admin(
        slug="globex", name="Globex", admin_email="hank@example.com", actor="staff",
        link_for=lambda token: f"https://codeq.example/dashboard/invitations/{token}/",
    )  # fmt: skip
    assert (invitation.tenant, invitation.role, invitation.status()) == (tenant, "admin", "pending")
    assert mailoutbox[-1].to == ["hank@example.com"] and "https://codeq.example/dashboard/invitations/" in (
        mailoutbox[-1].body
    )
    assert list(AuditEntry.objects.filter(tenant=tenant).values_list("action", flat=True).order_by("id")) == [
        "tenant.create", "invitation.send"]  # fmt: skip


def test_limits_change_audited_and_shards_only_before_first_use():
    UserFactory(username="ada")
    tenant, _ = lifecycle.create_tenant_with_admin(slug="acme", name="Acme", admin_username="ada", actor="staff")
    lifecycle.update_limits(tenant=tenant, actor="staff", shards=4, requests_per_second=50)
    assert (tenant.shards, tenant.requests_per_second) == (4, 50)
    entry = AuditEntry.objects.filter(action="tenant.limits").get()
    assert entry.detail == {"before": {"shards": 1, "requests_per_second": 1000},
                            "after": {"shards": 4, "requests_per_second": 50}}  # fmt: skip

    populate(tenant, ["resize"])
    with pytest.raises(ValidationError) as refused:
        lifecycle.update_limits(tenant=tenant, actor="staff", shards=2)
    assert "shards" in refused.value.message_dict
    with pytest.raises(ValidationError):
        lifecycle.update_limits(tenant=tenant, actor="staff", requests_per_second=-1)
