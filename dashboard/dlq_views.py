"""The DLQ pages: the commands with dead tasks, and one command's dead tasks with the operator's actions.

A command's page takes every action as a POST to itself (``action`` names it), so the page, its
confirmations and its messages stay in one place. Replaying needs ``operator``; deleting and
purging need ``admin`` and are confirmed first, as is "replay all that match", whose confirmation
shows how many tasks will move before any does. Editing a task's payload before replaying it needs
``admin`` and has a page of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.text import Truncator

from codeq_platform.base import kv
from codeq_platform.engine import Task
from codeq_platform.engine.core import validate_command
from codeq_platform.errors import InvalidInput, NotFound, PayloadTooLarge, StoreUnavailable, TaskNotInDlq
from dashboard import dlq
from dashboard.access import NoAccess, TenantAccess, refusal, tenant_view
from dashboard.answers import bad_input, store_down
from dashboard.templatetags.dashboard import pretty_json
from tenants.models import Membership

FILTER_FIELDS = ("error", "since", "until")
PAGE_SIZE = 50
COMMANDS_PER_PAGE = 100


def _ms(raw: str, field: str) -> int | None:
    """A ``datetime-local`` value (read as UTC) in epoch milliseconds; None when empty."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"'{field}' must be a date and time like 2026-05-01T14:30", field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _filter(data: QueryDict) -> dlq.DlqFilter:
    return dlq.DlqFilter(
        text=data.get("error", "").strip(), since_ms=_ms(data.get("since", ""), "since"),
        until_ms=_ms(data.get("until", ""), "until"),
    )  # fmt: skip


def _filter_query(data: QueryDict) -> str:
    """The filter's part of a query string, to return to the same view of the DLQ after an action."""
    kept = QueryDict(mutable=True)
    for name in FILTER_FIELDS:
        if data.get(name):
            kept[name] = data[name]
    return kept.urlencode()


def _died(task: Task) -> datetime:
    return datetime.fromtimestamp(task.finished_ms / 1000, UTC)


def _row(task: Task) -> dict:
    return {"task": task, "died": _died(task), "payload": Truncator(task.payload).chars(120)}


@tenant_view()
def index(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The tenant's commands a page at a time (alphabetically) with their dead-task counts, the ones
    with dead tasks first on each page: one count per command shown, so a tenant with thousands of
    commands still gets its page at once."""
    engine = kv.sync_engine()
    slug = access.tenant.slug
    try:
        page = Paginator(engine.commands(slug), COMMANDS_PER_PAGE).get_page(request.GET.get("page"))
        rows = [{"command": cmd, "dead": engine.dlq_count(slug, cmd)} for cmd in page]
    except StoreUnavailable:
        return store_down(request)
    rows.sort(key=lambda row: (row["dead"] == 0, row["command"]))
    context = {"rows": rows, "page": page, "total": sum(r["dead"] for r in rows)}
    return render(request, "dashboard/dlq_index.html", context)


@tenant_view()
def command_page(request: HttpRequest, access: TenantAccess, command: str) -> HttpResponse:
    """GET: the command's dead tasks, filtered and paginated. POST: one of the operator's actions."""
    try:
        cmd = validate_command(command)
        if request.method == "POST":
            return _act(request, access, cmd)
        dlq_filter = _filter(request.GET)
        page = dlq.dead_tasks(tenant=access.tenant, command=cmd, dlq_filter=dlq_filter,
                              cursor=request.GET.get("cursor") or None, page_size=PAGE_SIZE)  # fmt: skip
        total = kv.sync_engine().dlq_count(access.tenant.slug, cmd)
        paged = bool(request.GET.get("cursor"))
        groups = None if paged or not total else dlq.error_groups(tenant=access.tenant, command=cmd,
                                                                   dlq_filter=dlq_filter)  # fmt: skip
    except InvalidInput as exc:
        return bad_input(request, exc)
    except NoAccess as error:
        return refusal(request, error)
    except StoreUnavailable:
        return store_down(request)
    older = QueryDict(_filter_query(request.GET), mutable=True)
    if page.cursor:
        older["cursor"] = page.cursor
    context = {
        "command": cmd,
        "page": page,
        "rows": [_row(t) for t in page.tasks],
        "total": total,
        "filter": {name: request.GET.get(name, "") for name in FILTER_FIELDS},
        "filtered": any(request.GET.get(name) for name in FILTER_FIELDS),
        "search_budget": dlq.MATCH_BUDGET,
        "paged": paged,
        "groups": groups,
        "group_links": _group_links(request.GET, groups),
        "older_query": older.urlencode() if page.cursor else "",
        "newest_query": _filter_query(request.GET),
        "can_replay": access.allows(Membership.Role.OPERATOR),
        "can_delete": access.allows(Membership.Role.ADMIN),
    }
    return render(request, "dashboard/dlq_command.html", context)


def _group_links(data: QueryDict, groups: dlq.ErrorGroups | None) -> list[dict]:
    """Each error group with the query that filters the page by it (the time window kept)."""
    links = []
    for group in groups.groups if groups else []:
        query = QueryDict(_filter_query(data), mutable=True)
        query["error"] = group.text
        top = groups.groups[0].count if groups else 1
        links.append({"group": group, "query": query.urlencode(), "share": round(100 * group.count / top),
                      "active": bool(group.text) and data.get("error", "").strip() == group.text})  # fmt: skip
    return links


@tenant_view(Membership.Role.ADMIN)
def edit_payload(request: HttpRequest, access: TenantAccess, command: str, task_id: str) -> HttpResponse:
    """GET: a dead task's payload in an editor. POST: replay the task with the edited payload (JSON,
    within the tenant's payload limit); a bad payload shows the form again with the reason."""
    tenant = access.tenant
    try:
        cmd = validate_command(command)
        task = dlq.dead_task(tenant=tenant, command=cmd, task_id=task_id)
    except (InvalidInput, NotFound):
        return render(request, "dashboard/error.html", {"title": "Not found",
                      "message": "There is no such dead task in this DLQ."}, status=404)  # fmt: skip
    except TaskNotInDlq:
        messages.warning(request, f"Task {task_id} is no longer in the DLQ; nothing was changed.")
        return redirect("dashboard:dlq", tenant=tenant.slug, command=cmd)
    except StoreUnavailable:
        return store_down(request)
    text = pretty_json(task.payload)
    error, status = "", 200
    if request.method == "POST":
        text = request.POST.get("payload", "")
        try:
            dlq.replay_edited(tenant=tenant, command=cmd, task_id=task.id, payload_text=text,
                              actor=request.user.get_username())  # fmt: skip
        except (InvalidInput, PayloadTooLarge) as exc:
            error, status = exc.message, 413 if isinstance(exc, PayloadTooLarge) else 400
        except TaskNotInDlq:
            messages.warning(request, f"Task {task.id} left the DLQ meanwhile; your edit was not applied.")
            return redirect("dashboard:dlq", tenant=tenant.slug, command=cmd)
        except StoreUnavailable:
            return store_down(request)
        else:
            messages.success(request, f"Replayed task {task.id} with the edited payload.")
            return redirect("dashboard:dlq", tenant=tenant.slug, command=cmd)
    context = {"command": cmd, "task": task, "payload": text, "error": error, "limit": tenant.max_payload_bytes,
               "died": _died(task)}  # fmt: skip
    return render(request, "dashboard/dlq_edit.html", context, status=status)


def _act(request: HttpRequest, access: TenantAccess, cmd: str) -> HttpResponse:
    """Run (or first confirm) the action the POST names, then go back to the same view of the DLQ."""
    actor = request.user.get_username()
    tenant = access.tenant
    data = request.POST
    back = request.path + (f"?{q}" if (q := _filter_query(data)) else "")
    confirmed = data.get("confirmed") == "yes"
    if data.get("replay_one"):
        access.require(Membership.Role.OPERATOR)
        moved = dlq.replay_dead_tasks(tenant=tenant, command=cmd, task_ids=[data["replay_one"]], actor=actor)
        _report(request, moved, 1, "Replayed {} to the ready queue.")
        return redirect(back)
    action = data.get("action", "")
    if action == "replay_selected":
        access.require(Membership.Role.OPERATOR)
        ids = data.getlist("task_ids")
        moved = dlq.replay_dead_tasks(tenant=tenant, command=cmd, task_ids=ids, actor=actor)
        _report(request, moved, len(set(ids)), "Replayed {} to the ready queue.")
        return redirect(back)
    if action == "replay_matching":
        access.require(Membership.Role.OPERATOR)
        if not confirmed:
            selection = dlq.select_matching(tenant=tenant, command=cmd, dlq_filter=_filter(data), actor=actor)
            return _confirm(request, cmd, "replay_matching", selection=selection)
        ids = dlq.unsign_selection(tenant=tenant, command=cmd, actor=actor, token=data.get("token", ""))
        moved = dlq.replay_dead_tasks(tenant=tenant, command=cmd, task_ids=ids, actor=actor,
                                      action="dlq.replay_matching")  # fmt: skip
        _report(request, moved, len(ids), "Replayed {} to the ready queue.")
        return redirect(back)
    if action == "delete_selected":
        access.require(Membership.Role.ADMIN)
        ids = list(dict.fromkeys(data.getlist("task_ids")))
        if not confirmed:
            if not ids:
                raise InvalidInput("select at least one task", field="task_ids")
            return _confirm(request, cmd, "delete_selected", task_ids=ids)
        deleted = dlq.delete_dead_tasks(tenant=tenant, command=cmd, task_ids=ids, actor=actor)
        _report(request, deleted, len(ids), "Deleted {} for good.")
        return redirect(back)
    if action == "purge":
        access.require(Membership.Role.ADMIN)
        if not confirmed:
            dead = kv.sync_engine().dlq_count(tenant.slug, cmd)
            if not dead:
                messages.info(request, "The DLQ is already empty.")
                return redirect(back)
            return _confirm(request, cmd, "purge", dead=dead, up_to=min(dead, dlq.PURGE_MAX))
        try:
            up_to = int(data.get("up_to", ""))
        except ValueError:
            raise InvalidInput("the purge's count is missing", field="up_to") from None
        deleted, remaining = dlq.purge_dead_tasks(tenant=tenant, command=cmd, up_to=up_to, actor=actor)
        _report(request, deleted, up_to, "Purged {} from the DLQ.")
        if remaining:
            messages.info(request, f"{_tasks(remaining)} still in the DLQ (they died after you confirmed).")
        return redirect(back)
    raise InvalidInput("unknown action", field="action")


def _tasks(n: int) -> str:
    return f"{n:,} task" + ("" if n == 1 else "s")


def _report(request: HttpRequest, moved: int, asked: int, done: str) -> None:
    """The message after an action: how many tasks moved, and how many had left the DLQ meanwhile."""
    if not moved:
        messages.warning(request, f"No task moved: none of the {_tasks(asked)} was still in the DLQ.")
        return
    gone = f" {_tasks(asked - moved)} had already left the DLQ." if asked > moved else ""
    messages.success(request, done.format(_tasks(moved)) + gone)


def _confirm(request: HttpRequest, cmd: str, action: str, **context) -> HttpResponse:
    return render(request, "dashboard/dlq_confirm.html", {
        "command": cmd, "action": action, "filter": {name: request.POST.get(name, "") for name in FILTER_FIELDS},
        "back_query": _filter_query(request.POST), "max_action": dlq.MAX_ACTION, **context,
    })  # fmt: skip
