"""The worker subscriptions page: where the tenant's idle workers asked to be woken, and for how long.

Subscriptions live in the KV store and lapse by themselves (``codeq_platform/webhooks/subscriptions.py``);
the page shows the live ones with the time each has left. It needs ``operator``: a callback URL says
where the tenant's workers run, which a viewer of the queues does not need (the API lists them to
admins only).
"""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from codeq_platform.base import kv
from codeq_platform.engine.keys import SubscriptionKeys
from codeq_platform.errors import StoreUnavailable
from codeq_platform.webhooks import subscriptions
from dashboard.access import TenantAccess, tenant_view
from dashboard.views import store_down
from tenants.models import Membership


@tenant_view(Membership.Role.OPERATOR)
def subscriptions_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The tenant's live worker subscriptions, soonest to lapse first."""
    engine = kv.sync_engine()
    now_ms = int(time.time() * 1000)
    keys = SubscriptionKeys(engine.config.prefix, access.tenant.slug)
    try:
        live = subscriptions.live_now(engine.link, keys, now_ms=now_ms)
    except StoreUnavailable as error:
        return store_down(request, error)
    live.sort(key=lambda sub: sub.expires_ms)
    context = {"subscriptions": live, "server_now_ms": now_ms, "most": subscriptions.MAX_PER_TENANT}
    return render(request, "dashboard/subscriptions.html", context)
