"""The queue pages: the tenant's commands with their depths, one command's tasks by state with the
operator's actions, and the actions of a task's own page.

A command's page takes every action as a POST to itself (``action`` names it, ``one`` a single row's
task), then redirects back to the same state and page. Cancelling and deleting are confirmed first, as
is every action on "all matching", whose confirmation shows exactly how many tasks it will touch.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from codeq_platform.base import kv
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput, NotFound, StoreUnavailable
from dashboard import queues
from dashboard.access import NoAccess, TenantAccess, refusal, tenant_view
from dashboard.answers import bad_input, store_down
from tenants.models import Membership

PAGE_SIZE = 50
COMMANDS_PER_PAGE = 100


def _tasks(n: int) -> str:
    return f"{n:,} task" + ("" if n == 1 else "s")


def _report(request: HttpRequest, action: queues.Action, moved: int, asked: int, state: queues.QueueState) -> None:
    """The message after an action: how many tasks it moved, and how many had left the state meanwhile."""
    if not moved:
        messages.warning(request, f"Nothing changed: none of the {_tasks(asked)} was still {state.title.lower()}.")
        return
    gone = f" {_tasks(asked - moved)} had already moved on." if asked > moved else ""
    messages.success(request, action.done.format(_tasks(moved)) + gone)


@tenant_view()
def index(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The tenant's commands a page at a time (alphabetically), each with its depths by state."""
    engine = kv.sync_engine()
    slug = access.tenant.slug
    try:
        page = Paginator(engine.commands(slug), COMMANDS_PER_PAGE).get_page(request.GET.get("page"))
        rows = [{"command": cmd, "counts": queues.counts(tenant=access.tenant, command=cmd)} for cmd in page]
    except StoreUnavailable:
        return store_down(request)
    return render(request, "dashboard/queues_index.html", {"rows": rows, "page": page})


@tenant_view()
def command_page(request: HttpRequest, access: TenantAccess, command: str) -> HttpResponse:
    """GET: the command's tasks in one state, a page at a time. POST: one of the operator's actions."""
    data = request.POST if request.method == "POST" else request.GET
    try:
        cmd = validate_command(command)
        state = queues.queue_state(data.get("state") or "ready")
        if request.method == "POST":
            return _act(request, access, cmd, state)
        cursor = request.GET.get("cursor") or None
        page = queues.tasks_in_state(tenant=access.tenant, command=cmd, state=state, cursor=cursor,
                                     page_size=PAGE_SIZE)  # fmt: skip
        counts = queues.counts(tenant=access.tenant, command=cmd)
    except InvalidInput as exc:
        return bad_input(request, exc)
    except NoAccess as error:
        return refusal(request, error)
    except StoreUnavailable:
        return store_down(request)
    actions = [queues.ACTIONS[name] for name in state.actions if access.allows(queues.ACTIONS[name].role)]
    next_query = QueryDict(mutable=True)
    next_query["state"] = state.name
    if page.cursor:
        next_query["cursor"] = page.cursor
    context = {
        "command": cmd,
        "state": state,
        "tabs": [{"state": s, "count": counts[s.name]} for s in queues.STATES.values()],
        "tasks": page.tasks,
        "actions": actions,
        "paged": bool(cursor),
        "next_query": next_query.urlencode() if page.cursor else "",
        "server_now_ms": int(time.time() * 1000),
    }
    return render(request, "dashboard/queue.html", context)


def _act(request: HttpRequest, access: TenantAccess, cmd: str, state: queues.QueueState) -> HttpResponse:
    """Run (or first confirm) the action the POST names, then go back to the same state of the queue."""
    data = request.POST
    actor = request.user.get_username()
    tenant = access.tenant
    action = queues.action_named(data.get("action", ""), state)
    access.require(action.role)
    back = f"{request.path}?state={state.name}"
    confirmed = data.get("confirmed") == "yes"
    if data.get("scope") == "matching":
        if not confirmed:
            selection = queues.select_matching(tenant=tenant, command=cmd, state=state, action=action, actor=actor)
            return _confirm(request, cmd, state, action, back, scope="matching", selection=selection)
        ids = queues.unsign_selection(tenant=tenant, command=cmd, state=state, action=action, actor=actor,
                                      token=data.get("token", ""))  # fmt: skip
        matching = True
    else:
        ids = queues.check_ids([data["one"]] if data.get("one") else data.getlist("task_ids"))
        matching = False
        if action.confirm and not confirmed:
            return _confirm(request, cmd, state, action, back, scope="selected", task_ids=ids)
    moved = queues.act(tenant=tenant, command=cmd, state=state, action=action, task_ids=ids, actor=actor,
                       matching=matching)  # fmt: skip
    _report(request, action, moved, len(ids), state)
    return redirect(back)


def _confirm(request: HttpRequest, cmd: str, state: queues.QueueState, action: queues.Action, back: str,
             **context) -> HttpResponse:  # fmt: skip
    return render(request, "dashboard/queue_confirm.html", {
        "command": cmd, "state": state, "action": action, "back": back, "max_action": queues.MAX_ACTION, **context,
    })  # fmt: skip


@require_POST
@tenant_view()
def task_action(request: HttpRequest, access: TenantAccess, task_id: str) -> HttpResponse:
    """An action from a task's own page (the buttons its state offers); cancel and delete confirm first."""
    page = reverse("dashboard:task", kwargs={"tenant": access.tenant.slug, "task_id": task_id})
    try:
        task = kv.sync_engine().get_task(access.tenant.slug, task_id)
        state = next(s for s in queues.STATES.values() if task.state in s.states)
        action = queues.action_named(request.POST.get("action", ""), state)
        access.require(action.role)
        if action.confirm and request.POST.get("confirmed") != "yes":
            return _confirm(request, task.command_key, state, action, page, scope="task", task_ids=[task.id])
        moved = queues.act(tenant=access.tenant, command=task.command_key, state=state, action=action,
                           task_ids=[task.id], actor=request.user.get_username())  # fmt: skip
    except NotFound:
        return render(request, "dashboard/task_not_found.html", {"task_query": task_id}, status=404)
    except InvalidInput as exc:
        return bad_input(request, exc)
    except NoAccess as error:
        return refusal(request, error)
    except StoreUnavailable:
        return store_down(request)
    _report(request, action, moved, 1, state)
    if action.name == "delete" and moved:
        return redirect("dashboard:queues", tenant=access.tenant.slug, command=task.command_key)
    return redirect(page)


@require_POST
@tenant_view(Membership.Role.OPERATOR)
def queue_control(request: HttpRequest, access: TenantAccess, command: str, action: str) -> HttpResponse:
    """The overview's queue controls (operators and admins): pause or resume a command, or set or lift its
    cap on tasks in flight (``max_in_flight``, blank for none); then back to the overview."""
    actor = request.user.get_username()
    try:
        if action == "cap":
            queues.set_cap(tenant=access.tenant, command=command, cap=request.POST.get("max_in_flight", ""),
                           actor=actor)  # fmt: skip
        else:
            queues.set_paused(tenant=access.tenant, command=command, paused=action == "pause", actor=actor)
    except InvalidInput as exc:
        return bad_input(request, exc)
    except StoreUnavailable:
        return store_down(request)
    return redirect("dashboard:overview", tenant=access.tenant.slug)
