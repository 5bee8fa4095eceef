"""The tenant's own signing secret: what signs per-task result callbacks and worker wake-ups.

Tenant subscriptions sign with their own secrets (``WebhookSubscription.signing_secrets``); every
other delivery of a tenant is signed with this one, created on first use and shown to the tenant
only when rotated (``rotate_tenant_secret``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from codeq_platform.webhooks.models import SigningSecret
from codeq_platform.webhooks.services import new_webhook_secret
from tenants.models import Tenant
from tenants.services import record_audit


def _row(tenant_id: int) -> SigningSecret:
    row = SigningSecret.objects.filter(tenant_id=tenant_id).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return SigningSecret.objects.create(tenant_id=tenant_id, secret=new_webhook_secret())
    except IntegrityError:  # another process created it first: use theirs
        return SigningSecret.objects.get(tenant_id=tenant_id)


def tenant_secrets(tenant_id: int) -> list[str]:
    """The secrets that sign the tenant's deliveries now: current first, then the previous one
    during a rotation's grace period."""
    return _row(tenant_id).signing_secrets()


def rotate_tenant_secret(*, tenant: Tenant, grace_seconds: int, actor: str = "system") -> SigningSecret:
    """Give ``tenant`` a new signing secret; the old one keeps signing for ``grace_seconds``. The
    returned row's ``secret`` is the new secret, to be shown this once."""
    with transaction.atomic():
        row = _row(tenant.pk)
        row = SigningSecret.objects.select_for_update().get(pk=row.pk)
        row.rotate_secret(new_webhook_secret(), grace_seconds)
        row.save(update_fields=row.SECRET_FIELDS)
        record_audit(tenant=tenant, actor=actor, action="webhook.rotate_tenant_secret",
                     detail={"graceSeconds": grace_seconds})  # fmt: skip
    return row
