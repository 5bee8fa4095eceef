"""The service's own console, for staff users only: every tenant with its live figures, and its lifecycle.

The list reads the store in two pipelined round trips per request, whatever the page size: for the
page's tenants when sorting by a column of the database, for every tenant that matches the search
when sorting by a live figure. Every action is written to the tenant's audit trail.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from codeq_platform.errors import Conflict, NotFound, StoreUnavailable
from dashboard.access import NoAccess, refusal
from dashboard.answers import page_down
from tenants import lifecycle, selectors, usage
from tenants.models import INTERNAL_TENANT_SLUG, MAX_SHARDS, Tenant, TenantDeletion

log = logging.getLogger("codeq.dashboard")
PAGE_SIZE = 50
DB_SORTS = {"slug": "slug", "created": "created", "status": "active"}
COLUMNS = (("slug", "Tenant"), ("status", "Status"), ("created_today", "Created today"),
           ("completed_today", "Completed today"), ("failed_today", "Failed today"), ("in_flight", "In flight"),
           ("dlq", "DLQ"), ("footprint_bytes", "Store (est.)"), ("requests_last_hour", "Req/s (1 h)"),
           ("throttled_last_hour", "429s (1 h)"), ("created", "Since"))  # fmt: skip
LIVE_SORTS = ("created_today", "completed_today", "failed_today", "in_flight", "dlq", "footprint_bytes",
              "requests_last_hour", "throttled_last_hour")  # fmt: skip


LABELS = {"max_queued_tasks": "Unfinished tasks", "max_payload_bytes": "Payload bytes",
          "max_body_bytes": "Body bytes", "result_retention_seconds": "Result retention (s)",
          "dlq_retention_seconds": "DLQ retention (s)", "monthly_task_quota": "Monthly task quota",
          "requests_per_second": "Requests per second"}  # fmt: skip


def staff_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; users who are not staff get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            return refusal(request, NoAccess(403, "This page is for the service's staff."))
        return view(request, *args, **kwargs)

    return wrapper


class LimitsForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ("name", *lifecycle.LIMIT_FIELDS)
        labels = LABELS


class NewTenantForm(LimitsForm):
    admin_username = forms.CharField(max_length=150, required=False, label="First admin: an existing user",
                                     help_text="Their username")  # fmt: skip
    admin_email = forms.EmailField(required=False, label="… or invite by email",
                                   help_text="They set up their account from the link")  # fmt: skip

    class Meta(LimitsForm.Meta):
        fields = ("slug", "name", *lifecycle.LIMIT_FIELDS)

    def clean(self) -> dict:
        data = super().clean()
        if bool(data.get("admin_username")) == bool(data.get("admin_email")):
            raise ValidationError(
                "Name an existing user or an email address to invite as the first admin (one of the two)."
            )
        return data

    def validate_unique(self) -> None:
        """The service checks the slug (also against deletions under way); the form checks only fields."""


class DeleteForm(forms.Form):
    confirm_slug = forms.CharField(max_length=63, label="Type the tenant's slug to confirm")


def _tenants(search: str):
    deleting = TenantDeletion.objects.filter(tenant_id=OuterRef("pk"))
    rows = selectors.all_tenants().exclude(slug=INTERNAL_TENANT_SLUG).annotate(deleting=Exists(deleting))
    if search:
        rows = rows.filter(Q(slug__icontains=search) | Q(name__icontains=search))
    return rows


@staff_view
def tenants(request: HttpRequest) -> HttpResponse:
    """Every tenant with its live figures: searchable, sortable by any column, a page at a time."""
    search = request.GET.get("q", "").strip()[:100]
    sort = request.GET.get("sort", "slug")
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in DB_SORTS and key not in LIVE_SORTS:
        key, descending = "slug", False
    rows = _tenants(search)
    try:
        if key in DB_SORTS:
            rows = rows.order_by(("-" if descending else "") + DB_SORTS[key], "slug")
            page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
            figures = usage.live_figures(list(page.object_list))
        else:
            everything = list(rows)
            figures = usage.live_figures(everything)
            everything.sort(key=lambda t: (getattr(figures[t.pk], key), t.slug), reverse=descending)
            page = Paginator(everything, PAGE_SIZE).get_page(request.GET.get("page"))
    except StoreUnavailable:
        return page_down(request)
    current = ("-" if descending else "") + key
    headers = [{"label": label, "sorted": key == name, "descending": descending,
                "href": "?" + urlencode({"q": search, "sort": f"-{name}" if current == name else name})}
               for name, label in COLUMNS]  # fmt: skip
    context = {
        "headers": headers,
        "page": page,
        "rows": [(tenant, figures[tenant.pk]) for tenant in page.object_list],
        "search": search,
        "sort": current,
        "query": urlencode({"q": search, "sort": current}),
        "deletions": TenantDeletion.objects.exclude(phase=TenantDeletion.Phase.DONE),
    }
    return render(request, "dashboard/staff_tenants.html", context)


def _invitation_link(request: HttpRequest) -> Callable[[str], str]:
    def link_for(token: str) -> str:
        return request.build_absolute_uri(reverse("dashboard:invitation", kwargs={"token": token}))

    return link_for


@staff_view
def new_tenant(request: HttpRequest) -> HttpResponse:
    """Create a tenant with its first admin."""
    form = NewTenantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        username, email = data.pop("admin_username"), data.pop("admin_email")
        actor = request.user.get_username()
        try:
            if username:
                tenant, _ = lifecycle.create_tenant_with_admin(admin_username=username, actor=actor, **data)
                done = f"Tenant {tenant.slug} created with {username} as its admin."
            else:
                tenant, _ = lifecycle.create_tenant_inviting_admin(
                    admin_email=email, actor=actor, link_for=_invitation_link(request), **data
                )
                done = f"Tenant {tenant.slug} created; {email} is invited to be its admin."
        except ValidationError as error:
            for name, problems in error.message_dict.items():
                form.add_error(name if name in form.fields else None, problems)
        except (smtplib.SMTPException, OSError):
            log.exception("could not send the first admin's invitation to %s", email)
            form.add_error("admin_email", "The invitation email could not be sent; nothing was created.")
        else:
            messages.success(request, done)
            return redirect("dashboard:staff_tenant", slug=tenant.slug)
    return render(request, "dashboard/staff_new_tenant.html", {"form": form})


@staff_view
def tenant(request: HttpRequest, slug: str) -> HttpResponse:
    """One tenant: its limits, suspension and deletion (with the deletion's progress)."""
    try:
        found = selectors.tenant_by_slug(slug=slug)
    except NotFound:
        deletion = TenantDeletion.objects.filter(slug=slug).order_by("-requested").first()
        if deletion is None:
            return refusal(request, NoAccess(404, "There is no such tenant."))
        return render(request, "dashboard/staff_tenant.html", {"slug": slug, "deletion": deletion})
    actor = request.user.get_username()
    form = LimitsForm(instance=Tenant.objects.get(pk=found.pk))
    delete_form = DeleteForm()
    action = request.POST.get("action") if request.method == "POST" else None
    try:
        if action == "limits":
            form = LimitsForm(request.POST, instance=Tenant.objects.get(pk=found.pk))
            if form.is_valid():
                changes = {name: form.cleaned_data[name] for name in lifecycle.LIMIT_FIELDS}
                lifecycle.update_limits(tenant=found, actor=actor, **changes)
                if form.cleaned_data["name"] != found.name:
                    Tenant.objects.filter(pk=found.pk).update(name=form.cleaned_data["name"])
                messages.success(request, "Limits saved.")
                return redirect("dashboard:staff_tenant", slug=slug)
        elif action == "suspend":
            lifecycle.suspend(tenant=found, actor=actor)
            messages.success(request, f"{slug} is suspended: its tokens are refused, its data stays.")
            return redirect("dashboard:staff_tenant", slug=slug)
        elif action == "reactivate":
            lifecycle.reactivate(tenant=found, actor=actor)
            messages.success(request, f"{slug} is active again.")
            return redirect("dashboard:staff_tenant", slug=slug)
        elif action == "delete":
            delete_form = DeleteForm(request.POST)
            if delete_form.is_valid():
                lifecycle.request_deletion(tenant=found, confirm_slug=delete_form.cleaned_data["confirm_slug"],
                                           actor=actor)  # fmt: skip
                messages.success(request, f"{slug} is being deleted.")
                return redirect("dashboard:staff_tenant", slug=slug)
    except ValidationError as error:
        target = delete_form if action == "delete" else form
        for name, problems in error.message_dict.items():
            target.add_error(name if name in target.fields else None, problems)
    except Conflict as error:
        messages.error(request, error.message)
    context = {"slug": slug, "tenant": found, "form": form, "delete_form": delete_form,
               "deletion": lifecycle.deletion_of(found), "max_shards": MAX_SHARDS}  # fmt: skip
    return render(request, "dashboard/staff_tenant.html", context, status=400 if action else 200)
