"""The audit page: who did what to which tasks, and when, filterable by user and action."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.access import TenantAccess, tenant_view
from tenants import selectors

PAGE_SIZE = 50


@tenant_view()
def audit(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Every member may read the trail: it says what happened to the queues they look at."""
    actor = request.GET.get("actor", "")
    action = request.GET.get("action", "")
    entries = selectors.audit_entries(tenant=access.tenant, actor=actor, action=action)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    for entry in page.object_list:
        entry.detail_text = _detail_text(entry.detail)
    actors, actions = selectors.audit_actors_and_actions(tenant=access.tenant)
    kept = request.GET.copy()
    kept.pop("page", None)
    return render(request, "dashboard/audit.html", {
        "page": page, "actor": actor, "action": action, "actors": actors, "actions": actions,
        "filtered": bool(actor or action), "query": kept.urlencode(),
    })  # fmt: skip


def _detail_text(detail: dict) -> str:
    """``key: value`` pairs, lists joined with commas (a JSON column holds what each action chose to keep)."""
    parts = []
    for key, value in detail.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)
