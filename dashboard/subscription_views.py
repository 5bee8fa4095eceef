"""The worker subscriptions page: where the tenant's idle workers asked to be woken, and for how long.

Subscriptions live in the KV store and lapse by themselves (``codeq_platform/webhooks/subscriptions.py``);
the page shows the live ones with the time each has left, and an operator may remove one (a worker gone
for good, a callback that should no longer be called; a worker still running subscribes again). It
needs ``operator``: a callback URL says where the tenant's workers run, which a viewer of the queues does
not need (the API lists them to admins only).
"""

from __future__ import annotations

import time
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from codeq_platform.base import kv
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.errors import InvalidInput, StoreUnavailable
from codeq_platform.webhooks import subscriptions
from dashboard.access import TenantAccess, tenant_view
from dashboard.answers import bad_input, page_down, store_down
from tenants import services
from tenants.models import Membership


@tenant_view(Membership.Role.OPERATOR)
def subscriptions_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The tenant's live worker subscriptions, soonest to lapse first."""
    engine = kv.sync_engine()
    now_ms = int(time.time() * 1000)
    keys = SubscriptionKeys(engine.config.prefix, access.tenant.slug)
    try:
        live = subscriptions.live_now(engine.link, keys, now_ms=now_ms)
    except StoreUnavailable:
        return page_down(request)
    live.sort(key=lambda sub: sub.expires_ms)
    context = {"subscriptions": live, "server_now_ms": now_ms, "most": subscriptions.MAX_PER_TENANT}
    return render(request, "dashboard/subscriptions.html", context)


@require_POST
@tenant_view(Membership.Role.OPERATOR)
def remove(request: HttpRequest, access: TenantAccess, subscription_id: str) -> HttpResponse:
    """Remove one live subscription now (audited), then back to the page, which says what happened."""
    engine = kv.sync_engine()
    keys = SubscriptionKeys(engine.config.prefix, access.tenant.slug)
    try:
        known = str(uuid.UUID(subscription_id))
    except ValueError:
        return bad_input(request, InvalidInput("That is not a subscription id.", field="subscription_id"))
    try:
        removed = subscriptions.remove_now(engine.link, keys, known, now_ms=int(time.time() * 1000))
    except StoreUnavailable:
        return store_down(request)
    if removed:
        services.record_audit(tenant=access.tenant, actor=request.user.get_username(),
                              action="subscription.remove", target=known)  # fmt: skip
        messages.success(request, "Subscription removed: its worker is no longer woken.")
    else:
        messages.info(request, "That subscription had already lapsed or been removed.")
    return redirect("dashboard:subscriptions", tenant=access.tenant.slug)
