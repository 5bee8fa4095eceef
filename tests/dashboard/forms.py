"""Using the dashboard as a browser does: a logged-in member whose POSTs must carry the CSRF token."""

from __future__ import annotations

import uuid

from django.test import Client

from tests.factories import MembershipFactory, UserFactory


def login_as(tenant, role: str, *, username: str = "") -> Client:
    """A client logged in as a new member of ``tenant`` with ``role``; CSRF is enforced, as in a browser."""
    user = UserFactory(username=username or f"{role}-{uuid.uuid4().hex[:6]}")
    MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def submit(client: Client, url: str, data: dict, *, follow: bool = False):
    """POST ``data`` to ``url`` with the CSRF token of a GET of the same page."""
    if "csrftoken" not in client.cookies:
        client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, follow=follow)
