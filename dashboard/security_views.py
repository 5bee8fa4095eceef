"""Security pages: a user's own account (sign out everywhere), and the staff's access page: the access
log, filterable, the sign-ins the throttle holds back, and signing a user out everywhere.

Only staff read the access page (it shows every user's addresses): others get the 404 of any page they
may not see. Every action is a CSRF-checked POST, written to the access log under the actor's name.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_ipv46_address
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboard.access import NoAccess, refusal
from tenants import second_factor, selectors, services
from tenants.receivers import client_of

PAGE_SIZE = 50


def _staff_only(request: HttpRequest) -> HttpResponse | None:
    if not request.user.is_staff:
        return refusal(request, NoAccess(404, "There is no such page."))
    return None


@login_required
def access_log(request: HttpRequest) -> HttpResponse:
    """Sign-ins, failures, lockouts, second-factor changes and sign-outs of every user, newest first."""
    if (refused := _staff_only(request)) is not None:
        return refused
    filters = {name: request.GET.get(name, "").strip() for name in ("username", "kind", "ip_address")}
    try:
        if filters["ip_address"]:
            validate_ipv46_address(filters["ip_address"])
    except ValidationError:
        filters["ip_address"] = ""  # not an address: no address filter
    page = Paginator(selectors.access_events(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    failures = list(selectors.failed_sign_ins()[:100])
    for attempt in failures:
        attempt.locked = attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT
    return render(request, "dashboard/access_log.html", {
        "page": page, "filters": filters, "filtered": any(filters.values()), "query": kept.urlencode(),
        "kinds": selectors.access_kinds(), "failures": failures, "failure_limit": settings.AXES_FAILURE_LIMIT,
    })  # fmt: skip


@login_required
@require_POST
def unlock(request: HttpRequest) -> HttpResponse:
    """Lift the lockout of a username and address and forget their failures."""
    if (refused := _staff_only(request)) is not None:
        return refused
    username, address = request.POST.get("username", ""), request.POST.get("ip_address", "")
    try:
        services.unlock_sign_in(username=username, ip_address=address, actor=request.user.get_username())
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"Unlocked {' from '.join(filter(None, (username, address)))}.")
    return redirect("dashboard:access-log")


@login_required
@require_POST
def sign_out_user(request: HttpRequest) -> HttpResponse:
    """Staff end every session of a user, now (their open pages go back to the login form)."""
    if (refused := _staff_only(request)) is not None:
        return refused
    username = request.POST.get("username", "").strip()
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        messages.error(request, f"There is no user {username!r}.")
    else:
        services.sign_out_everywhere(
            user=user, actor=request.user.get_username(), client=client_of(request), reason="by staff"
        )
        messages.success(request, f"Signed {username} out everywhere.")
    return redirect("dashboard:access-log")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own security: where they are signed in, their second factor."""
    return render(request, "dashboard/account.html", {
        "idle_minutes": settings.SESSION_COOKIE_AGE // 60,
        "enrolled": second_factor.is_enrolled(request.user),
        "required": second_factor.required_for(request.user),
        "codes_left": second_factor.recovery_codes_left(request.user),
    })  # fmt: skip


@login_required
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of the signed-in user, this one included."""
    services.sign_out_everywhere(user=request.user, client=client_of(request), reason="by the user")
    return redirect("dashboard:login")
