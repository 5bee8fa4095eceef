"""``GET /v1/codeq/admin/usage``: the calling tenant's usage per UTC day and its monthly quota."""

from __future__ import annotations

from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse

from codeq_platform import errors
from codeq_platform.api import docs
from codeq_platform.api.auth import Principal
from codeq_platform.api.endpoint import ADMIN, endpoint
from codeq_platform.api.errors import json_response
from codeq_platform.base import db
from codeq_platform.base.representations import rfc3339
from tenants import selectors, usage

MAX_DAYS = 366


def _day(request: HttpRequest, name: str, default: date) -> date:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise errors.InvalidInput(f"{name}: expected a date, YYYY-MM-DD", field=name) from None


def report(tenant_id: int, first: date, last: date) -> dict:
    """The usage report of one tenant, as the API and the console's CSV show it."""
    tenant = selectors.tenant_by_id(tenant_id=tenant_id)
    days = usage.usage_between(tenant, first, last)
    quota = None
    if tenant.monthly_task_quota:
        used = usage.month_created(tenant)
        _, resets_at = usage.month_days()
        limit = tenant.monthly_task_quota
        quota = {"limit": limit, "used": used, "remaining": max(limit - used, 0), "resetsAt": rfc3339(resets_at * 1000)}
    return {
        "tenant": tenant.slug,
        "quota": quota,
        "days": [{"day": d.day.isoformat(), "tasksCreated": d.tasks_created, "tasksCompleted": d.tasks_completed,
                  "tasksFailed": d.tasks_failed, "tasksDeadLettered": d.tasks_dead, "apiRequests": d.api_requests,
                  "payloadBytes": d.payload_bytes} for d in days],
    }  # fmt: skip


@endpoint(methods=("GET",), roles=ADMIN, operation="admin", doc=docs.Usage)
async def usage_report(request: HttpRequest, principal: Principal) -> HttpResponse:
    today = usage.day_of(usage.today_number())
    last = _day(request, "to", today)
    first = _day(request, "from", last - timedelta(days=29))
    if first > last:
        raise errors.InvalidInput("from: must not be after to", field="from")
    if (last - first).days >= MAX_DAYS:
        raise errors.InvalidInput(f"from: the range is at most {MAX_DAYS} days", field="from")
    return json_response(await db.run(report, principal.tenant_id, first, last))
