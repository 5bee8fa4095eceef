"""The dashboard's pages: thin views over the engine's read side and the access rules."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from dashboard.access import TenantAccess, tenant_view, visible_tenants

SECTIONS = ("overview", "leases", "dlq", "tasks", "webhooks", "tokens", "audit")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The tenant last opened in this session, else the first one the user may see."""
    tenants = list(visible_tenants(request.user))
    if not tenants:
        return render(request, "dashboard/no_tenants.html", {"tenants": tenants})
    last = request.session.get("dashboard_tenant")
    slug = last if any(t.slug == last for t in tenants) else tenants[0].slug
    return redirect("dashboard:overview", tenant=slug)


@login_required
def switch(request: HttpRequest) -> HttpResponse:
    """The tenant switcher's target: the same section in the chosen tenant (access is checked there)."""
    slug = request.GET.get("tenant", "")
    section = request.GET.get("section", "overview")
    if not slug:
        return redirect("dashboard:home")
    url = reverse("dashboard:overview", kwargs={"tenant": slug})
    if section in SECTIONS and section != "overview":
        url += f"{section}/"
    return redirect(url)


@tenant_view()
def overview(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    return render(request, "dashboard/overview.html", {})
