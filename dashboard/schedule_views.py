"""The schedules pages: the tenant's recurring schedules with their next and last run, and the
operator's actions on them.

Everyone in the tenant sees them. Pausing, resuming and "run now" need ``operator``; creating,
editing and deleting need ``admin`` (the API's schedules are admin-only; the console lets operators
stop or nudge a schedule during an incident, not change what it does). Every write goes through the
scheduler's services, which check a spec exactly as the API's PUT does and write the audit entry.
"Run now" creates one task per click however often the form is sent (a request id in the form is
part of the task's idempotency key); deleting is confirmed first.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from codeq_platform.engine import jsontext
from codeq_platform.errors import InvalidInput, InvalidSchedule, NotFound, QueueFull, StoreUnavailable
from codeq_platform.scheduler import cron, schedules, selectors, services
from codeq_platform.scheduler.models import Schedule
from dashboard.access import NoAccess, TenantAccess, refusal, tenant_view
from dashboard.answers import page_down
from dashboard.templatetags.dashboard import pretty_json
from tenants.models import Membership

OPERATOR, ADMIN = Membership.Role.OPERATOR, Membership.Role.ADMIN
UPCOMING = 5
# InvalidSchedule names the API's field; the form's own name for it.
FORM_FIELDS = {"maxAttempts": "max_attempts"}


class ScheduleForm(forms.Form):
    """A schedule's spec as text fields; the scheduler's services judge the values."""

    name = forms.CharField(max_length=63, help_text="a-z, 0-9 and '-'; it cannot change later")
    cron = forms.CharField(max_length=200, help_text="5 fields, an alias such as @hourly, or @every 30s / 5m / 1h")
    timezone = forms.CharField(max_length=64, required=False, initial="UTC", help_text="IANA zone; empty: UTC")
    command = forms.CharField(max_length=200)
    payload = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
                              required=False, initial="{}", help_text="JSON; empty: {}")  # fmt: skip
    priority = forms.IntegerField(initial=0, help_text="0 to 9, higher first")
    max_attempts = forms.IntegerField(initial=0, label="Max attempts", help_text="0: the platform's default")
    webhook = forms.CharField(max_length=2048, required=False, help_text="result callback URL of every task")
    paused = forms.BooleanField(required=False)

    def clean_payload(self) -> object:
        text = self.cleaned_data["payload"].strip()
        if not text:
            return {}
        try:
            payload = jsontext.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"The payload is not valid JSON ({exc}).") from None
        return {} if payload is None else payload

    def spec(self) -> services.ScheduleSpec:
        data = self.cleaned_data
        return services.ScheduleSpec(
            cron=data["cron"], time_zone=data["timezone"] or "UTC", command=data["command"], payload=data["payload"],
            priority=data["priority"], max_attempts=data["max_attempts"], webhook=data["webhook"],
            paused=data["paused"],
        )  # fmt: skip


def _form_for(schedule: Schedule) -> ScheduleForm:
    form = ScheduleForm(initial={
        "name": schedule.name, "cron": schedule.cron, "timezone": schedule.time_zone, "command": schedule.command,
        "payload": pretty_json(jsontext.dumps(schedule.payload).decode()), "priority": schedule.priority,
        "max_attempts": schedule.max_attempts, "webhook": schedule.webhook, "paused": schedule.paused,
    })  # fmt: skip
    form.fields["name"].disabled = True
    return form


def _save(request: HttpRequest, access: TenantAccess, form: ScheduleForm, name: str) -> Schedule | None:
    """Write the form's spec as schedule ``name``; on a refused value, the reason goes on its field."""
    try:
        return services.put_schedule(tenant=access.tenant, name=name, spec=form.spec(),
                                     actor=request.user.get_username()).schedule  # fmt: skip
    except InvalidSchedule as exc:
        field = FORM_FIELDS.get(exc.field or "", exc.field)
        form.add_error(field if field in form.fields else None, exc.message[:1].upper() + exc.message[1:] + ".")
        return None


def _rows(schedules_list: list[Schedule]) -> list[dict]:
    return [{"schedule": s, "request_id": uuid.uuid4()} for s in schedules_list]


def _schedule(access: TenantAccess, name: str) -> Schedule:
    """The tenant's schedule ``name``; NotFound for a name no schedule can have (never sent to the database)."""
    if not services.SCHEDULE_NAME_RE.fullmatch(name):
        raise NotFound("schedule not found")
    return selectors.schedule_for(tenant=access.tenant, name=name)


def _upcoming(schedule: Schedule) -> list[datetime]:
    """The schedule's next few slots (none while paused)."""
    if schedule.paused or schedule.next_run_at is None:
        return []
    try:
        timing = cron.parse(schedule.cron, schedule.time_zone)
    except InvalidSchedule:  # a rule the cron library no longer reads: the page still shows the rest
        return [schedule.next_run_at]
    slots = [schedule.next_run_at]
    while len(slots) < UPCOMING:
        slots.append(timing.next_after(slots[-1]))
    return slots


@tenant_view()
def schedules_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: every schedule with its next and last run. POST: ``action`` pause, resume, run_now (operator),
    create or delete (admin, delete confirmed first), then back here."""
    tenant = access.tenant
    form = ScheduleForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "create":
            if not access.allows(ADMIN):
                return refusal(
                    request, NoAccess(403, f"Creating a schedule needs the admin role; yours is {access.role}.")
                )
            form = ScheduleForm(request.POST)
            if form.is_valid():
                name = form.cleaned_data["name"]
                if selectors.schedules_for(tenant=tenant).filter(name=name).exists():
                    form.add_error("name", "A schedule of that name exists already; edit it instead.")
                elif _save(request, access, form, name):
                    messages.success(request, f"Created schedule {name}.")
                    return redirect("dashboard:schedules", tenant=tenant.slug)
            status = 400
        else:
            return _act(request, access, action)
    rows = _rows(list(selectors.schedules_for(tenant=tenant)))
    context = {"rows": rows, "form": form, "show_form": status == 400,
               "can_operate": access.allows(OPERATOR), "can_edit": access.allows(ADMIN)}  # fmt: skip
    return render(request, "dashboard/schedules.html", context, status=status)


def _act(request: HttpRequest, access: TenantAccess, action: str) -> HttpResponse:
    tenant, actor = access.tenant, request.user.get_username()
    name = request.POST.get("name", "")
    back = request.POST.get("back") == "schedule"
    try:
        schedule = _schedule(access, name)
        if action in ("pause", "resume"):
            access.require(OPERATOR)
            services.set_paused(tenant=tenant, name=name, paused=action == "pause", actor=actor)
            messages.success(request, f"{'Paused' if action == 'pause' else 'Resumed'} schedule {name}.")
        elif action == "run_now":
            access.require(OPERATOR)
            enqueued = schedules.run_now(schedule=schedule, actor=actor, request_id=request.POST.get("request_id", ""))
            if enqueued.created:
                messages.success(request, f"Schedule {name} ran now: task {enqueued.task.id}.")
            else:
                messages.info(request, f"Already ran for this click: task {enqueued.task.id}. Nothing new was created.")
        elif action == "delete":
            access.require(ADMIN)
            if request.POST.get("confirmed") != "yes":
                return render(request, "dashboard/operator_confirm.html", {
                    "title": f"Delete schedule {name}?", "button": "Delete schedule", "cancel": request.path,
                    "message": "It stops creating tasks at once; the tasks it already created stay.",
                    "fields": {"action": "delete", "name": name},
                })  # fmt: skip
            services.delete_schedule(tenant=tenant, name=name, actor=actor)
            messages.success(request, f"Deleted schedule {name}.")
            return redirect("dashboard:schedules", tenant=tenant.slug)
        else:
            raise InvalidInput("unknown action", field="action")
    except NotFound:
        return render(request, "dashboard/error.html", {"title": "Not found",
                      "message": f"There is no schedule called {name!r} in this tenant."}, status=404)  # fmt: skip
    except InvalidInput as exc:
        return render(request, "dashboard/error.html", {"title": "Not done", "message": exc.message}, status=400)
    except QueueFull:
        message = "The tenant's queue is full, so no task was created; try again once workers have caught up."
        return render(request, "dashboard/error.html", {"title": "Queue full", "message": message}, status=409)
    except NoAccess as error:
        return refusal(request, error)
    except StoreUnavailable:
        return page_down(request)
    if back:
        return redirect("dashboard:schedules", tenant=tenant.slug, name=name)
    return redirect("dashboard:schedules", tenant=tenant.slug)


@tenant_view()
def schedule_page(request: HttpRequest, access: TenantAccess, name: str) -> HttpResponse:
    """GET: one schedule, its next slots and (for admins) its edit form. POST (admin): save the edit."""
    tenant = access.tenant
    try:
        schedule = _schedule(access, name)
    except NotFound:
        return render(request, "dashboard/error.html", {"title": "Not found",
                      "message": "There is no such schedule in this tenant."}, status=404)  # fmt: skip
    form = _form_for(schedule)
    status = 200
    if request.method == "POST":
        if not access.allows(ADMIN):
            return refusal(request, NoAccess(403, f"Editing a schedule needs the admin role; yours is {access.role}."))
        form = ScheduleForm(request.POST, initial={"name": schedule.name})
        form.fields["name"].disabled = True
        if form.is_valid() and _save(request, access, form, schedule.name):
            messages.success(request, f"Saved schedule {schedule.name}.")
            return redirect("dashboard:schedules", tenant=tenant.slug, name=schedule.name)
        status = 400
    context = {"schedule": schedule, "form": form, "upcoming": _upcoming(schedule), "request_id": uuid.uuid4(),
               "can_operate": access.allows(OPERATOR), "can_edit": access.allows(ADMIN),
               "payload": pretty_json(jsontext.dumps(schedule.payload).decode())}  # fmt: skip
    return render(request, "dashboard/schedule.html", context, status=status)
