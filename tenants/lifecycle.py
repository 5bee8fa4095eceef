"""A tenant's life as staff run it: creation with its first admin (an existing user, or an address
invited by email), limits, suspension and deletion.

Every change is written to the tenant's audit trail under the acting staff user's name. Suspending a
tenant keeps its data: its tokens are refused (403 ``tenant_suspended``), its workers get nothing, the
scheduler leaves its queues, schedules and webhook events alone until it is reactivated.

Deleting a tenant suspends it and records a ``TenantDeletion``; the scheduler's job then removes it in
bounded steps (``delete_step``): first every key of the tenant in the store, found by SCAN with
patterns anchored at the tenant's hash tags (``engine.keys.tenant_key_patterns``), pass after pass
until a whole pass finds nothing; then its database rows, a batch at a time, then the tenant row.
Each step saves its cursor, so a crash resumes where the last step ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from codeq_platform.base import kv
from codeq_platform.engine.keys import tenant_key_patterns
from codeq_platform.errors import Conflict
from tenants import members, services
from tenants.models import INTERNAL_TENANT_SLUG, Invitation, Membership, Tenant, TenantDeletion

log = logging.getLogger("codeq.tenants")

LIMIT_FIELDS = ("requests_per_second", "max_queued_tasks", "max_payload_bytes", "max_body_bytes",
                "result_retention_seconds", "dlq_retention_seconds", "monthly_task_quota", "shards")  # fmt: skip
STEP_KEYS = 500
STEP_ROWS = 1000


def create_tenant_with_admin(*, slug: str, name: str, admin_username: str, actor: str,
                             **limits: int) -> tuple[Tenant, Membership]:  # fmt: skip
    """Create a tenant with the existing user ``admin_username`` as its first admin."""
    user = get_user_model().objects.filter(username=admin_username).first()
    if user is None:
        raise ValidationError({"admin_username": "There is no such user; invite the first admin by email instead."})
    with transaction.atomic():
        tenant = _create(slug=slug, name=name, actor=actor, **limits)
        membership = services.add_member(tenant=tenant, user=user, role=Membership.Role.ADMIN, actor=actor)
    return tenant, membership


def create_tenant_inviting_admin(
    *, slug: str, name: str, admin_email: str, actor: str, link_for: Callable[[str], str], **limits: int
) -> tuple[Tenant, Invitation]:
    """Create a tenant and mail ``admin_email`` an invitation to be its first admin (``members.invite``);
    they create their account, with a password, from the link."""
    with transaction.atomic():
        tenant = _create(slug=slug, name=name, actor=actor, **limits)
        invitation = members.invite(tenant=tenant, email=admin_email, role=Membership.Role.ADMIN, actor=actor,
                                    link_for=link_for)  # fmt: skip
    return tenant, invitation


def _create(*, slug: str, name: str, actor: str, **limits: int) -> Tenant:
    if TenantDeletion.objects.filter(slug=slug, finished__isnull=True).exists():
        raise ValidationError({"slug": "A tenant with this slug is still being deleted."})
    tenant = services.create_tenant(slug=slug, name=name, **limits)
    services.record_audit(tenant=tenant, actor=actor, action="tenant.create", detail={"slug": slug, **limits})
    return tenant


def update_limits(*, tenant: Tenant, actor: str, **limits: int) -> Tenant:
    """Change the tenant's limits; its shard count only while its queues have never been used."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a limit." for name in unknown})
    if "shards" in limits and limits["shards"] != tenant.shards and has_store_keys(tenant):
        raise ValidationError({"shards": "The shard count is fixed once the tenant's queues hold keys."})
    changed = {name: value for name, value in limits.items() if getattr(tenant, name) != value}
    if not changed:
        return tenant
    before = {name: getattr(tenant, name) for name in changed}
    for name, value in changed.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save(update_fields=list(changed))
    services.forget_tenant_grants(tenant=tenant)
    kv.register_tenant(tenant.slug, tenant.shards)
    services.record_audit(tenant=tenant, actor=actor, action="tenant.limits",
                          detail={"before": before, "after": changed})  # fmt: skip
    return tenant


def suspend(*, tenant: Tenant, actor: str) -> Tenant:
    """Suspend the tenant: its data stays, its tokens get 403 ``tenant_suspended``."""
    if deletion_of(tenant) is not None:
        raise Conflict("this tenant is being deleted")
    if not tenant.active:
        return tenant
    return services.set_tenant_active(tenant=tenant, active=False, actor=actor)


def reactivate(*, tenant: Tenant, actor: str) -> Tenant:
    """Lift a suspension; refused while the tenant is being deleted."""
    if deletion_of(tenant) is not None:
        raise Conflict("this tenant is being deleted")
    if tenant.active:
        return tenant
    return services.set_tenant_active(tenant=tenant, active=True, actor=actor)


def request_deletion(*, tenant: Tenant, confirm_slug: str, actor: str) -> TenantDeletion:
    """Start deleting ``tenant``: ``confirm_slug`` must repeat its slug. The tenant is suspended at once;
    the scheduler removes its keys and rows in steps. Asking twice returns the deletion under way."""
    if confirm_slug != tenant.slug:
        raise ValidationError({"confirm_slug": "Type the tenant's slug exactly to confirm."})
    if tenant.slug == INTERNAL_TENANT_SLUG:
        raise ValidationError({"confirm_slug": "The platform's own tenant cannot be deleted."})
    with transaction.atomic():
        deletion, created = TenantDeletion.objects.get_or_create(
            tenant_id=tenant.pk, defaults={"slug": tenant.slug, "requested_by": actor}
        )
        if tenant.active:
            services.set_tenant_active(tenant=tenant, active=False, actor=actor)
        if created:
            services.record_audit(tenant=tenant, actor=actor, action="tenant.delete")
    return deletion


def deletion_of(tenant: Tenant) -> TenantDeletion | None:
    return TenantDeletion.objects.filter(tenant_id=tenant.pk).first()


def has_store_keys(tenant: Tenant) -> bool:
    """Whether any key of the tenant exists in the store (one bounded SCAN per pattern)."""
    client = kv.sync_engine().link.client
    for pattern in tenant_key_patterns(settings.CODEQ_KV_PREFIX, tenant.slug):
        cursor = 0
        while True:
            cursor, keys = client.scan(cursor, match=pattern, count=STEP_KEYS)
            if keys:
                return True
            if int(cursor) == 0:
                break
    return False


def delete_step(deletion: TenantDeletion, *, keys: int = STEP_KEYS, rows: int = STEP_ROWS) -> TenantDeletion:
    """One bounded step of a deletion: one SCAN batch of keys, or one batch of rows per table."""
    if deletion.phase == TenantDeletion.Phase.STORE:
        _store_step(deletion, keys)
    elif deletion.phase == TenantDeletion.Phase.DATABASE:
        _database_step(deletion, rows)
    return deletion


def run_deletions(budget_seconds: float = 0.5) -> int:
    """The scheduler job: advance every unfinished deletion for about ``budget_seconds``; returns the
    steps taken."""
    deadline = time.monotonic() + budget_seconds
    steps = 0
    for deletion in TenantDeletion.objects.exclude(phase=TenantDeletion.Phase.DONE).order_by("requested"):
        while deletion.phase != TenantDeletion.Phase.DONE and time.monotonic() < deadline:
            delete_step(deletion)
            steps += 1
    return steps


def _store_step(deletion: TenantDeletion, batch: int) -> None:
    patterns = tenant_key_patterns(settings.CODEQ_KV_PREFIX, deletion.slug)
    client = kv.sync_engine().link.client
    cursor, found = client.scan(int(deletion.cursor), match=patterns[deletion.pattern], count=batch)
    if found:
        client.unlink(*found)
    deletion.keys_deleted += len(found)
    deletion.pass_keys += len(found)
    deletion.cursor = str(int(cursor))
    if deletion.cursor == "0":
        deletion.pattern += 1
        if deletion.pattern == len(patterns):
            # A pass that found keys starts another: a request let through by a cached token just before
            # the suspension may have written behind the scan. A pass that finds nothing ends the phase.
            deletion.phase = TenantDeletion.Phase.DATABASE if deletion.pass_keys == 0 else deletion.phase
            deletion.pattern = 0
            deletion.pass_keys = 0
    deletion.save(update_fields=["cursor", "pattern", "pass_keys", "keys_deleted", "phase"])


def _dependants() -> list[tuple[type[Model], str]]:
    """Every model with a foreign key to Tenant, with that key's name."""
    return [(rel.related_model, rel.field.name) for rel in Tenant._meta.related_objects]


def _database_step(deletion: TenantDeletion, batch: int) -> None:
    with transaction.atomic():
        for model, field in _dependants():
            pks = list(model.objects.filter(**{f"{field}_id": deletion.tenant_id}).values_list("pk", flat=True)[:batch])
            if pks:
                deleted, _ = model.objects.filter(pk__in=pks).delete()
                deletion.rows_deleted += deleted
                deletion.save(update_fields=["rows_deleted"])
                return
        deleted, _ = Tenant.objects.filter(pk=deletion.tenant_id).delete()
        deletion.rows_deleted += deleted
        deletion.phase = TenantDeletion.Phase.DONE
        deletion.finished = timezone.now()
        deletion.save(update_fields=["rows_deleted", "phase", "finished"])
    log.info("tenant %s deleted: %d keys, %d rows", deletion.slug, deletion.keys_deleted, deletion.rows_deleted)
