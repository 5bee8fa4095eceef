"""The tenant admin's pages: API tokens and webhook subscriptions.

Both are ``admin`` only, for reading too: a token list or a subscription URL tells an outsider more
than a queue does. Creating answers with a redirect (post/redirect/get), so a reload never creates a
second token or subscription: the new bearer token or signing secret waits in the session for the one
GET that follows and is deleted from it there, so it is shown once. Revoking a token and deleting a
subscription are confirmed first.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from codeq_platform.errors import Conflict, NotFound, StoreUnavailable
from codeq_platform.webhooks import deliveries as outbound
from codeq_platform.webhooks import selectors as webhook_selectors
from codeq_platform.webhooks import services as webhook_services
from codeq_platform.webhooks.models import WebhookSubscription
from dashboard import deliveries
from dashboard.access import TenantAccess, tenant_view
from dashboard.answers import page_down
from tenants import selectors, services
from tenants.models import ApiToken, Membership

ADMIN = Membership.Role.ADMIN
PAGE_SIZE = 50
GRACE_CHOICES = [(0, "none: the old secret stops now"), (3600, "1 hour"), (86400, "24 hours"), (7 * 86400, "7 days")]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who uses it, e.g. resize-workers")
    role = forms.ChoiceField(choices=ApiToken.Role.choices, initial=ApiToken.Role.WORKER)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, label="Expires in (days)", help_text="Empty: never"
    )


class SubscriptionForm(forms.Form):
    url = forms.URLField(max_length=2000, assume_scheme="https", label="Endpoint URL")
    events = forms.MultipleChoiceField(
        choices=[(event, event) for event in WebhookSubscription.Event.values], widget=forms.CheckboxSelectMultiple
    )
    commands = forms.CharField(required=False, max_length=2000, help_text="Comma-separated; empty: every command")

    def clean_commands(self) -> list[str]:
        return [c for c in re.split(r"[\s,]+", self.cleaned_data["commands"]) if c]


class EditSubscriptionForm(SubscriptionForm):
    active = forms.BooleanField(required=False, help_text="Unticked: nothing is delivered")


class RotateForm(forms.Form):
    grace_seconds = forms.TypedChoiceField(
        choices=GRACE_CHOICES, coerce=int, initial=86400, label="Old secret keeps signing for"
    )


def _actor(request: HttpRequest) -> str:
    return request.user.get_username()


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's model validation errors on the form's fields (or on top)."""
    for name, problems in error.message_dict.items():
        form.add_error(name if name in form.fields else None, problems)


ONCE_KEY = "dashboard_shown_once"


def _show_once(request: HttpRequest, **shown: str) -> HttpResponse:
    """Keep ``shown`` for the next GET of this page only, and redirect there."""
    request.session[ONCE_KEY] = {"path": request.path, **shown}
    return redirect(request.path)


def _shown_once(request: HttpRequest) -> dict[str, str] | None:
    """What ``_show_once`` kept for this page, removed from the session as it is read."""
    shown = request.session.get(ONCE_KEY)
    if not shown or shown.get("path") != request.path:
        return None
    del request.session[ONCE_KEY]
    return shown


def _confirm(request: HttpRequest, *, title: str, message: str, fields: dict, button: str) -> HttpResponse:
    return render(request, "dashboard/operator_confirm.html", {
        "title": title, "message": message, "fields": fields, "button": button, "cancel": request.path,
    })  # fmt: skip


@tenant_view(ADMIN)
def tokens(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: the tenant's tokens (and a bearer just issued, once). POST ``action=create``: issue one;
    ``action=revoke``: confirm, then revoke."""
    tenant = access.tenant
    form = TokenForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            form = TokenForm(request.POST)
            if form.is_valid():
                try:
                    issued = services.issue_token(tenant=tenant, actor=_actor(request), **form.cleaned_data)
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    row = issued.token_row
                    return _show_once(request, name=row.name, role=row.role, bearer=issued.bearer)
            status = 400
        elif action == "revoke":
            return _revoke(request, access)
        else:
            return render(request, "dashboard/error.html", {"title": "Bad request", "message": "unknown action"},
                          status=400)  # fmt: skip
    page = Paginator(selectors.tokens_for(tenant=tenant), PAGE_SIZE).get_page(request.GET.get("page"))
    issued = _shown_once(request) if request.method == "GET" else None
    return render(request, "dashboard/tokens.html", {
        "page": page, "form": form, "issued": issued,
    }, status=status)  # fmt: skip


def _revoke(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    try:
        token = selectors.token_for(tenant=access.tenant, token_id=int(request.POST.get("token_id", "")))
    except (ValueError, NotFound):
        return render(request, "dashboard/error.html", {"title": "Not found", "message": "No such token here."},
                      status=404)  # fmt: skip
    if request.POST.get("confirmed") != "yes":
        return _confirm(
            request, title=f"Revoke the token “{token.name}”?",
            message=f"Every client using this {token.role} token is refused from its next request on. "
                    "This cannot be undone: issue a new token instead.",
            fields={"action": "revoke", "token_id": token.pk}, button="Revoke",
        )  # fmt: skip
    services.revoke_token(token_id=token.pk, tenant=access.tenant, actor=_actor(request))
    messages.success(request, f"Revoked the token “{token.name}”.")
    return redirect(request.path)


@tenant_view(ADMIN)
def webhooks(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: the tenant's subscriptions (and a signing secret just made, once). POST: create one."""
    tenant = access.tenant
    form = SubscriptionForm()
    status = 200
    if request.method == "POST":
        form = SubscriptionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = webhook_services.create_webhook_subscription(
                    tenant=tenant, url=data["url"], events=data["events"], commands=data["commands"],
                    actor=_actor(request),
                )  # fmt: skip
            except ValidationError as error:
                _add_errors(form, error)
            else:
                return _show_once(request, url=created.subscription.url, secret=created.secret)
        status = 400
    page = Paginator(webhook_selectors.webhook_subscriptions_for(tenant=tenant), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    last = deliveries.last_delivery_by_subscription(tenant=tenant, subscription_ids=[sub.pk for sub in page])
    rows = [(sub, last.get(sub.pk)) for sub in page]
    created = _shown_once(request) if request.method == "GET" else None
    return render(request, "dashboard/webhooks.html", {"rows": rows, "page": page, "form": form, "created": created},
                  status=status)  # fmt: skip


@tenant_view(ADMIN)
def webhook(request: HttpRequest, access: TenantAccess, subscription_id: int) -> HttpResponse:
    """One subscription: edit it, rotate its secret, delete it, and see its recent deliveries."""
    tenant = access.tenant
    try:
        subscription = webhook_selectors.webhook_subscription_for(tenant=tenant, subscription_id=subscription_id)
    except NotFound:
        return render(request, "dashboard/error.html", {
            "title": "Not found", "message": "There is no such webhook subscription in this tenant.",
        }, status=404)  # fmt: skip
    initial = {"url": subscription.url, "events": subscription.events, "commands": ", ".join(subscription.commands),
               "active": subscription.active}  # fmt: skip
    form, rotate_form, status = EditSubscriptionForm(initial=initial), RotateForm(), 200
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "update":
        form = EditSubscriptionForm(request.POST)
        if form.is_valid():
            try:
                webhook_services.update_webhook_subscription(subscription=subscription, actor=_actor(request),
                                                     **form.cleaned_data)  # fmt: skip
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, "Saved the subscription.")
                return redirect(request.path)
        status = 400
    elif action == "rotate":
        rotate_form = RotateForm(request.POST)
        if rotate_form.is_valid():
            grace = rotate_form.cleaned_data["grace_seconds"]
            secret = webhook_services.rotate_webhook_secret(
                subscription=subscription, actor=_actor(request), grace_seconds=grace
            )
            return _show_once(request, secret=secret)
        status = 400
    elif action == "test":
        try:
            outbound.send_test_event(subscription=subscription, actor=_actor(request))
        except StoreUnavailable:
            return page_down(request)
        messages.success(request, "Queued a test event; it appears below once sent (reload the page).")
        return redirect(request.path)
    elif action == "redeliver":
        try:
            deliveries.redeliver(tenant=tenant, subscription=subscription, delivery_id=request.POST.get("delivery", ""),
                                 actor=_actor(request))  # fmt: skip
        except NotFound:
            return render(request, "dashboard/error.html", {"title": "Not found", "message": "No such delivery here."},
                          status=404)  # fmt: skip
        except StoreUnavailable:
            return page_down(request)
        except Conflict as exc:
            messages.warning(request, exc.message.capitalize() + ".")
        else:
            messages.success(request, "Queued the delivery again, same id and body.")
        return redirect(request.path)
    elif action == "delete":
        if request.POST.get("confirmed") != "yes":
            return _confirm(
                request, title="Delete this webhook subscription?",
                message=f"Nothing more is delivered to {subscription.url}, and its delivery history goes with it.",
                fields={"action": "delete"}, button="Delete",
            )  # fmt: skip
        webhook_services.delete_webhook_subscription(subscription=subscription, actor=_actor(request))
        messages.success(request, f"Deleted the subscription to {subscription.url}.")
        return redirect("dashboard:webhooks", tenant=tenant.slug)
    elif action is not None:
        return render(request, "dashboard/error.html", {"title": "Bad request", "message": "unknown action"},
                      status=400)  # fmt: skip
    shown = _shown_once(request) if request.method == "GET" else None
    return render(request, "dashboard/webhook.html", {
        "subscription": subscription, "form": form, "rotate_form": rotate_form, "secret": shown and shown["secret"],
        "deliveries": deliveries.recent_deliveries(tenant=tenant, subscription=subscription),
    }, status=status)  # fmt: skip
