"""Who may see and do what in which tenant: the one place the dashboard decides access.

A user sees the tenants they are a member of; staff users see every active tenant with the ``admin``
role. Roles rank ``viewer`` < ``operator`` < ``admin``. Another tenant (or one that does not exist)
answers 404, exactly like a missing object, so a URL never tells whether a tenant exists; a role that
is too low answers 403. Views declare their need with ``@tenant_view(role)`` and receive the
resolved ``TenantAccess``; consumers call ``access_for`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from codeq_platform.base import kv
from codeq_platform.errors import NotFound
from tenants import selectors
from tenants.models import Membership, Tenant

ROLES = (Membership.Role.VIEWER, Membership.Role.OPERATOR, Membership.Role.ADMIN)
RANK = {role.value: rank for rank, role in enumerate(ROLES)}


class NoAccess(Exception):
    """The user may not see the tenant (404) or may not do this there (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TenantAccess:
    """A user's standing in one tenant: the tenant and the role the server enforces."""

    tenant: Tenant
    role: str

    def allows(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def require(self, role: str) -> None:
        """Raise NoAccess (403) unless this standing reaches ``role``."""
        if not self.allows(role):
            raise NoAccess(403, f"This needs the {role} role in {self.tenant.slug}; yours is {self.role}.")


def visible_tenants(user) -> QuerySet[Tenant]:
    """The active tenants ``user`` may open, by slug (for the switcher and the landing page)."""
    if not user.is_authenticated:
        return Tenant.objects.none()
    if user.is_staff:
        return selectors.all_tenants().filter(active=True)
    return selectors.tenants_for_user(user=user)


def access_for(user, slug: str, role: str = Membership.Role.VIEWER) -> TenantAccess:
    """``user``'s access to tenant ``slug`` if it reaches ``role``; raises NoAccess otherwise."""
    access = standing_in(user, slug)
    access.require(role)
    return access


def standing_in(user, slug: str) -> TenantAccess:
    """``user``'s role in tenant ``slug``, whatever it is; raises NoAccess (404) for a tenant they cannot see."""
    not_found = NoAccess(404, "There is no such tenant, or you are not a member of it.")
    if not user.is_authenticated or not user.is_active:
        raise not_found
    try:
        tenant = selectors.tenant_by_slug(slug=slug)
    except NotFound:
        raise not_found from None
    if not tenant.active:
        raise not_found
    if user.is_staff:
        granted = Membership.Role.ADMIN.value
    else:
        membership = selectors.membership_for(tenant=tenant, user=user)
        if membership is None:
            raise not_found
        granted = membership.role
    kv.register_tenant(tenant.slug, tenant.shards)
    return TenantAccess(tenant=tenant, role=granted)


def refusal(request: HttpRequest, error: NoAccess) -> HttpResponse:
    """The HTML page for a refused request, with its status."""
    title = "Not found" if error.status == 404 else "Not allowed"
    return render(request, "dashboard/error.html", {"title": title, "message": error.message}, status=error.status)


def tenant_view(role: str = Membership.Role.VIEWER) -> Callable:
    """Decorate a view ``view(request, access, **kwargs)`` taking ``tenant`` from the URL.

    Anonymous users go to the login page; others get 404 for a tenant they cannot see and 403 for
    a role below ``role`` (on every method, so a POST is refused like a GET). ``request.access`` and
    ``request.tenants`` are set for the templates (navigation, switcher).
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, tenant: str, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            request.tenants = visible_tenants(request.user)  # type: ignore[attr-defined]
            try:
                access = standing_in(request.user, tenant)
                request.access = access  # type: ignore[attr-defined]
                access.require(role)
            except NoAccess as error:
                return refusal(request, error)
            if request.session.get("dashboard_tenant") != access.tenant.slug:  # a write only when it changes
                request.session["dashboard_tenant"] = access.tenant.slug
            return view(request, access, **kwargs)

        return wrapper

    return decorate
