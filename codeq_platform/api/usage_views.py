"""``GET /v1/codeq/admin/usage``: the calling tenant's usage per UTC day and its monthly quota."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest, HttpResponse

from codeq_platform.api import outputs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, Values, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.api.shapes import Shape, Text
from codeq_platform.base import db
from codeq_platform.base.representations import rfc3339
from tenants import selectors, usage


def report(tenant_id: int, first: date, last: date) -> dict[str, Any]:
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


# "from" is a keyword in Python, so the query's shape is built rather than written as a class.
UsageQuery = type("UsageQuery", (Shape,), {
    "__doc__": "The UTC days to report, at most 366.",
    "from": Text("date", description="first UTC day (default: 29 days before to)"),
    "to": Text("date", description="last UTC day, at most 366 days after from (default: today)"),
})  # fmt: skip


@endpoint(
    "GET",
    roles=ADMIN,
    operation="admin",
    query=UsageQuery,
    tags=("admin",),
    responses={200: outputs.UsageReport},
    summary="The tenant's usage per UTC day, and its monthly quota",
)
async def usage_report(request: HttpRequest, principal: Principal, query: Values) -> HttpResponse:
    first, last = usage.requested_range(query["from"], query["to"])
    return json_response(await db.run(report, principal.tenant_id, first, last))
