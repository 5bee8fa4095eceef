"""The dashboard's pages: thin views over the engine's read side and the access rules."""

from __future__ import annotations

import time

import orjson
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from codeq_platform.base import kv
from codeq_platform.engine import State, command_key
from codeq_platform.errors import InvalidInput, NotFound, StoreUnavailable
from codeq_platform.scheduler.stats import tenant_snapshot
from dashboard import history, queues, search
from dashboard.access import NoAccess, TenantAccess, standing_in, tenant_view, visible_tenants
from dashboard.answers import page_down
from tenants.models import Membership

PAGE_SIZE = 50
SEARCH_FIELDS = ("id", "key", "tag", "error", "state", "command")
SECTIONS = (
    "overview",
    "queues",
    "leases",
    "dlq",
    "tasks",
    "schedules",
    "subscriptions",
    "webhooks",
    "tokens",
    "members",
    "usage",
    "metrics",
    "workers",
    "audit",
)
SECTION_ROLES = {"subscriptions": Membership.Role.OPERATOR, "webhooks": Membership.Role.ADMIN,
                 "tokens": Membership.Role.ADMIN, "members": Membership.Role.ADMIN}  # fmt: skip


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
    """The tenant switcher's target: the same section in the chosen tenant (access is checked there), or
    its overview when the user's role there does not reach the section."""
    slug = request.GET.get("tenant", "")
    section = request.GET.get("section", "overview")
    try:
        url = reverse("dashboard:overview", kwargs={"tenant": slug})
    except NoReverseMatch:  # empty or not a slug: no tenant to switch to
        return redirect("dashboard:home")
    if section in SECTION_ROLES:
        try:
            if not standing_in(request.user, slug).allows(SECTION_ROLES[section]):
                return redirect(url)
        except NoAccess:
            return redirect(url)  # the overview answers the refusal
    if section in SECTIONS and section != "overview":
        url += f"{section}/"
    return redirect(url)


@tenant_view()
def overview(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Every command's depths and last hour; the page then follows the stats job's snapshots live."""
    try:
        snapshot = tenant_snapshot(access.tenant.slug)
    except StoreUnavailable:
        return page_down(request)
    can_pause = access.allows(Membership.Role.OPERATOR)
    return render(request, "dashboard/overview.html", {"snapshot": snapshot, "can_pause": can_pause})


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
    except StoreUnavailable:
        return page_down(request)
    except InvalidInput as error:
        message = f"That {error.field or 'filter'} is not valid; start again from the first page."
        return render(request, "dashboard/error.html", {"title": "Bad request", "message": message}, status=400)
    context = {"page": page, "commands": commands, "command": command_key(command), "cursor": cursor,
               "server_now_ms": int(time.time() * 1000)}  # fmt: skip
    return render(request, "dashboard/leases.html", context)


@tenant_view()
def task_search(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Find tasks by id prefix, idempotency key, tag, error text, state and command (dashboard/search.py).
    An id alone that names a task opens its page straight away."""
    data = request.GET
    fields = {name: data.get(name, "").strip() for name in SEARCH_FIELDS}
    cursor = data.get("cursor") or None
    context: dict = {"fields": fields, "states": list(State), "scan_step": search.SCAN_STEP,
                     "max_steps": search.MAX_STEPS, "page_size": search.PAGE_SIZE}  # fmt: skip
    try:
        only_id = fields["id"] and not cursor and not any(v for k, v in fields.items() if k != "id")
        if only_id and search.task_by_id(tenant=access.tenant, task_id=fields["id"]):
            return redirect("dashboard:task", tenant=access.tenant.slug, task_id=fields["id"])
        query = search.TaskQuery(id_prefix=fields["id"], idempotency_key=fields["key"], tag=fields["tag"],
                                 error=fields["error"], state=fields["state"], command=fields["command"])  # fmt: skip
        if query.given:
            page = search.search_tasks(tenant=access.tenant, query=query, cursor=cursor)
            more = QueryDict(mutable=True)
            more.update({k: v for k, v in fields.items() if v})
            context.update(page=page, first_query=more.urlencode())
            if page.cursor:
                more["cursor"] = page.cursor
                context["more_query"] = more.urlencode()
            context["continued"] = bool(cursor)
    except InvalidInput as error:
        context["error"] = error
        return render(request, "dashboard/task_search.html", context, status=400)
    except StoreUnavailable:
        return page_down(request)
    return render(request, "dashboard/task_search.html", context)


def _pretty(text: str) -> str:
    """JSON text indented for reading; text that is not JSON as it is."""
    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return text


@tenant_view()
def task(request: HttpRequest, access: TenantAccess, task_id: str) -> HttpResponse:
    """One task: status, payload, result or error, every attempt, lease, its event history, and the buttons
    its state offers this member."""
    try:
        found, result = kv.sync_engine().get_result(access.tenant.slug, task_id)
    except NotFound:
        context = {"task_query": task_id}
        return render(request, "dashboard/task_not_found.html", context, status=404)
    except StoreUnavailable:
        return page_down(request)
    context = {
        "task": found,
        "result": result,
        "payload": _pretty(found.payload),
        "result_json": _pretty(result.result) if result and result.result else "",
        "progress": _pretty(found.progress) if found.progress else "",
        "error": (result.error if result else "") or found.error,
        # only a task that ended failing owns its error; any other task's is left from an earlier attempt
        "error_is_final": bool(result and result.error) or found.state in (State.FAILED, State.DEAD),
        "events": history.events(found),
        "attempts": history.attempts(found),
        "actions": queues.task_actions(allows=access.allows, state=found.state),
        "backing_off": queues.backing_off(found),
        "server_now_ms": int(time.time() * 1000),
        "task_query": task_id,
    }
    return render(request, "dashboard/task.html", context)
