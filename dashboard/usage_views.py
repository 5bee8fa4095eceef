"""The usage page: a tenant's tasks, requests and payload bytes per UTC day, as a chart, a table and a CSV.

Every member may read it; admins also see the monthly task quota (used, limit, reset time). The
figures are those of ``GET /v1/codeq/admin/usage``: rolled-up days from the database, the days the
store still holds read live from it.
"""

from __future__ import annotations

import csv

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from codeq_platform.errors import InvalidInput, StoreUnavailable
from dashboard.access import TenantAccess, tenant_view
from dashboard.answers import page_down
from dashboard.charts import daily_bars
from tenants import usage
from tenants.models import Membership

CSV_COLUMNS = ("day", "tasks_created", "tasks_completed", "tasks_failed", "tasks_dead_lettered", "api_requests",
               "payload_bytes")  # fmt: skip
SERIES = (("bar-created", "tasks created", "tasks_created"), ("bar-completed", "tasks completed", "tasks_completed"),
          ("bar-failed", "tasks failed", "tasks_failed"))  # fmt: skip


def _days(request: HttpRequest, access: TenantAccess):
    first, last = usage.requested_range(request.GET.get("from"), request.GET.get("to"))
    return first, last, usage.usage_between(access.tenant, first, last)


def _bad_range(request: HttpRequest, error: InvalidInput) -> HttpResponse:
    message = f"{error.message}. Pick the first and last day again."
    return render(request, "dashboard/error.html", {"title": "Bad request", "message": message}, status=400)


@tenant_view()
def usage_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The chart of tasks per day, the table of every figure, and for admins the monthly quota."""
    try:
        first, last, days = _days(request, access)
        quota = usage.quota_of(access.tenant) if access.allows(Membership.Role.ADMIN) else None
    except InvalidInput as error:
        return _bad_range(request, error)
    except StoreUnavailable:
        return page_down(request)
    chart = daily_bars([d.day for d in days], [(css, noun, [getattr(d, field) for d in days])
                                              for css, noun, field in SERIES])  # fmt: skip
    totals = {field: sum(getattr(d, field) for d in days) for field in usage.COLUMNS.values()}
    context = {"first": first, "last": last, "days": list(reversed(days)), "chart": chart, "totals": totals,
               "quota": quota, "is_admin": access.allows(Membership.Role.ADMIN),
               "query": request.GET.urlencode()}  # fmt: skip
    return render(request, "dashboard/usage.html", context)


@tenant_view()
def usage_csv(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The same days as a CSV file, oldest first."""
    try:
        first, last, days = _days(request, access)
    except InvalidInput as error:
        return _bad_range(request, error)
    except StoreUnavailable:
        return page_down(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{access.tenant.slug}-usage-{first.isoformat()}-{last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for d in days:
        writer.writerow([d.day.isoformat(), d.tasks_created, d.tasks_completed, d.tasks_failed, d.tasks_dead,
                         d.api_requests, d.payload_bytes])  # fmt: skip
    return response
