"""The dashboard's pages: thin views over the engine's read side and the access rules."""

from __future__ import annotations

import time

import orjson
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from codeq_platform.base import kv
from codeq_platform.engine import command_key
from codeq_platform.errors import InvalidInput, NotFound, StoreUnavailable
from codeq_platform.scheduler.stats import tenant_snapshot
from dashboard import queues
from dashboard.access import TenantAccess, tenant_view, visible_tenants
from tenants.models import Membership

PAGE_SIZE = 50
SECTIONS = ("overview", "leases", "dlq", "tasks", "webhooks", "tokens", "members", "usage", "audit")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The tenant last opened in this session, else the first one the user may see."""
    tenants = list(visible_tenants(request.user))
    if not tenants:
        return render(request, "dashboard/no_tenants.html")
    last = request.session.get("dashboard_tenant")
    slug = last if any(t.slug == last for t in tenants) else tenants[0].slug
    return redirect("dashboard:overview", tenant=slug)


@login_required
def switch(request: HttpRequest) -> HttpResponse:
    """The tenant switcher's target: the same section in the chosen tenant (access is checked there)."""
    slug = request.GET.get("tenant", "")
    section = request.GET.get("section", "overview")
    try:
        url = reverse("dashboard:overview", kwargs={"tenant": slug})
    except NoReverseMatch:  # empty or not a slug: no tenant to switch to
        return redirect("dashboard:home")
    if section in SECTIONS and section != "overview":
        url += f"{section}/"
    return redirect(url)


def store_down(request: HttpRequest, error: StoreUnavailable) -> HttpResponse:
    """The page shown while the queue store does not answer (it recovers by itself)."""
    message = "The queue store is not answering right now; this page will work again once it is back."
    return render(request, "dashboard/error.html", {"title": "Store unavailable", "message": message}, status=503)


@tenant_view()
def overview(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Every command's depths and last hour; the page then follows the stats job's snapshots live."""
    try:
        snapshot = tenant_snapshot(access.tenant.slug)
    except StoreUnavailable as error:
        return store_down(request, error)
    can_pause = access.allows(Membership.Role.OPERATOR)
    return render(request, "dashboard/overview.html", {"snapshot": snapshot, "can_pause": can_pause})


@require_POST
@tenant_view(Membership.Role.OPERATOR)
def queue_action(request: HttpRequest, access: TenantAccess, command: str, action: str) -> HttpResponse:
    """Pause or resume a command from the overview's buttons (operators and admins), then back to it."""
    try:
        queues.set_paused(tenant=access.tenant, command=command, paused=action == "pause",
                          actor=request.user.get_username())  # fmt: skip
    except InvalidInput as exc:
        return render(request, "dashboard/error.html", {"title": "Bad request", "message": str(exc)}, status=400)
    except StoreUnavailable as error:
        return store_down(request, error)
    return redirect("dashboard:overview", tenant=access.tenant.slug)


@tenant_view()
def leases(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Active leases, soonest expiry first, a page at a time (the engine's cursor paging, no scan)."""
    slug = access.tenant.slug
    cursor = request.GET.get("cursor") or None
    command = request.GET.get("command", "").strip()
    engine = kv.sync_engine()
    try:
        commands = engine.commands(slug)
        page = engine.leases(slug, limit=PAGE_SIZE, cursor=cursor, command=command)
    except StoreUnavailable as error:
        return store_down(request, error)
    except InvalidInput as error:
        message = f"That {error.field or 'filter'} is not valid; start again from the first page."
        return render(request, "dashboard/error.html", {"title": "Bad request", "message": message}, status=400)
    context = {"page": page, "commands": commands, "command": command_key(command), "cursor": cursor,
               "server_now_ms": int(time.time() * 1000)}  # fmt: skip
    return render(request, "dashboard/leases.html", context)


@tenant_view()
def task_search(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The search box's target: straight to the task's page, or the empty search form."""
    task_id = request.GET.get("id", "").strip()
    if not task_id:
        return render(request, "dashboard/task_search.html", {})
    try:
        return redirect("dashboard:task", tenant=access.tenant.slug, task_id=task_id)
    except NoReverseMatch:
        return render(request, "dashboard/task_not_found.html", {"task_query": task_id}, status=404)


def _pretty(text: str) -> str:
    """JSON text indented for reading; text that is not JSON as it is."""
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return text


@tenant_view()
def task(request: HttpRequest, access: TenantAccess, task_id: str) -> HttpResponse:
    """One task: status, payload, result or error, attempts, lease and its event history."""
    try:
        found, result = kv.sync_engine().get_result(access.tenant.slug, task_id)
    except NotFound:
        context = {"task_query": task_id}
        return render(request, "dashboard/task_not_found.html", context, status=404)
    except StoreUnavailable as error:
        return store_down(request, error)
    context = {
        "task": found,
        "result": result,
        "payload": _pretty(found.payload),
        "result_json": _pretty(result.result) if result and result.result else "",
        "progress": _pretty(found.progress) if found.progress else "",
        "error": (result.error if result else "") or found.error,
        "events": list(reversed(found.events)),
        "server_now_ms": int(time.time() * 1000),
        "task_query": task_id,
    }
    return render(request, "dashboard/task.html", context)
