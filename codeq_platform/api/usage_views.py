"""``GET /v1/codeq/admin/usage``: the calling tenant's usage per UTC day and its monthly quota."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest, HttpResponse

from codeq_platform.api import docs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.base import db
from codeq_platform.base.representations import rfc3339
from tenants import selectors, usage


def report(tenant_id: int, first: date, last: date) -> dict:
    """The usage report of one tenant, as the API shows it."""
    tenant = selectors.tenant_by_id(tenant_id=tenant_id)
    days = usage.usage_between(tenant, first, last)
    quota = usage.quota_of(tenant)
    return {
        "tenant": tenant.slug,
        "quota": None if quota is None else {"limit": quota.limit, "used": quota.used, "remaining": quota.remaining,
                                             "resetsAt": rfc3339(int(quota.resets_at.timestamp()) * 1000)},
        "days": [{"day": d.day.isoformat(), "tasksCreated": d.tasks_created, "tasksCompleted": d.tasks_completed,
                  "tasksFailed": d.tasks_failed, "tasksDeadLettered": d.tasks_dead, "apiRequests": d.api_requests,
                  "payloadBytes": d.payload_bytes} for d in days],
    }  # fmt: skip


@endpoint(methods=("GET",), roles=ADMIN, operation="admin", doc=docs.Usage)
async def usage_report(request: HttpRequest, principal: Principal) -> HttpResponse:
    first, last = usage.requested_range(request.GET.get("from"), request.GET.get("to"))
    return json_response(await db.run(report, principal.tenant_id, first, last))
