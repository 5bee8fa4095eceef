"""Keep the engine's event flags in step with the tenant's subscriptions, whoever changes them (the
API, the dashboard, Django's admin): the flags decide which terminal events the engine records."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from codeq_platform.errors import CodeqError
from codeq_platform.webhooks.deliveries import sync_event_flags
from codeq_platform.webhooks.models import WebhookSubscription
from tenants.models import Tenant

log = logging.getLogger("codeq.webhooks")


def _changed(sender: type, instance: WebhookSubscription, **kwargs: Any) -> None:
    tenant_id = instance.tenant_id
    transaction.on_commit(lambda: _sync(tenant_id))


def _sync(tenant_id: int) -> None:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return
    try:
        sync_event_flags(tenant)
    except CodeqError:  # the scheduler sets every tenant's flags again each minute
        log.exception("could not update the event flags of tenant %s", tenant.slug)


def connect() -> None:
    post_save.connect(_changed, sender=WebhookSubscription, dispatch_uid="codeq-webhook-flags-save")
    post_delete.connect(_changed, sender=WebhookSubscription, dispatch_uid="codeq-webhook-flags-delete")
