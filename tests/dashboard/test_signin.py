"""Signing in through the login form: failures slow the form down, then lock the username or address out
(the right password included), everything lands in the access log, and staff can unlock."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from tenants.models import AccessEvent
from tests.factories import MembershipFactory, UserFactory

LOGIN = "/dashboard/login/"
PASSWORD = "the-right-password"
BROWSER = "Mozilla/5.0 (signin test)"


@pytest.fixture
def person(tenant):
    user = UserFactory(username="olivia", password=make_password(PASSWORD))
    MembershipFactory(tenant=tenant, user=user, role="operator")
    return user


@pytest.fixture
def no_slowdown(settings):
    settings.CODEQ_LOGIN_SLOWDOWN_AFTER = 1000
    settings.AXES_FAILURE_LIMIT = 3


def browser(address: str = "127.0.0.1") -> Client:
    return Client(enforce_csrf_checks=True, HTTP_USER_AGENT=BROWSER, REMOTE_ADDR=address)


def sign_in(client: Client, username: str, password: str):
    """Fill in and send the login form as a browser does (its CSRF token from the page just loaded)."""
    page = client.get(LOGIN)
    assert page.status_code == 200
    return client.post(LOGIN, {"username": username, "password": password, "next": "",
                               "csrfmiddlewaretoken": client.cookies["csrftoken"].value})  # fmt: skip


def signed_in(client: Client) -> bool:
    return client.get("/dashboard/t/acme/").status_code == 200


def test_failures_slow_the_form_down_without_checking_the_password(person, settings):
    settings.CODEQ_LOGIN_SLOWDOWN_AFTER = 2
    client = browser()
    for _ in range(2):
        page = sign_in(client, "olivia", "wrong")
        assert page.status_code == 200 and "did not match" in page.content.decode()

    page = sign_in(client, "olivia", PASSWORD)

    assert page.status_code == 429 and "wait 1 second before the next try" in page.content.decode()
    assert not signed_in(client)
    assert AccessEvent.objects.filter(kind="login.throttled", username="olivia").count() == 1
    deadline = time.monotonic() + 30
    while (page := sign_in(client, "olivia", PASSWORD)).status_code == 429:
        assert time.monotonic() < deadline, "the form stayed closed"
    assert page.status_code == 302 and signed_in(client)


def test_a_username_is_locked_out_even_for_the_right_password(person, no_slowdown):
    attacker = browser("203.0.113.7")
    answers = [sign_in(attacker, "olivia", f"guess-{n}") for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "signing in is locked for 15 minutes" in answers[-1].content.decode()

    owner = browser("198.51.100.2")
    page = sign_in(owner, "olivia", PASSWORD)

    assert page.status_code == 429 and "even with the right password" in page.content.decode()
    assert not signed_in(owner)


def test_an_address_is_locked_out_whatever_the_username(person, no_slowdown):
    client = browser("203.0.113.9")
    for name in ("root", "admin", "ops"):
        sign_in(client, name, "guess")

    assert sign_in(client, "olivia", PASSWORD).status_code == 429
    assert sign_in(browser("198.51.100.3"), "olivia", PASSWORD).status_code == 302


def test_failures_and_the_lockout_are_in_the_access_log_with_address_and_browser(person, no_slowdown):
    client = browser("203.0.113.7")
    for _ in range(4):
        sign_in(client, "olivia", "guess")

    events = list(AccessEvent.objects.order_by("id"))
    # the third failure sets the lockout off while it is being counted, so the lockout is logged first
    assert [e.kind for e in events] == ["login.failed", "login.failed", "login.lockout", "login.failed", "login.failed"]
    assert {(e.username, e.ip_address, e.user_agent) for e in events} == {("olivia", "203.0.113.7", BROWSER)}
    assert events[2].detail == events[3].detail == {"failures": 3} and events[4].detail == {"reason": "locked out"}


def test_a_good_sign_in_is_logged_and_forgets_earlier_failures(person, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = browser()
    sign_in(client, "olivia", "typo")
    assert sign_in(client, "olivia", PASSWORD).status_code == 302
    client.post("/dashboard/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    for _ in range(2):
        sign_in(client, "olivia", "typo")

    assert sign_in(client, "olivia", PASSWORD).status_code == 302
    kinds = list(AccessEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["login.failed", "login", "logout", "login.failed", "login.failed", "login"]


def test_staff_unlock_a_locked_username_from_the_access_page(person, no_slowdown):
    for n in range(3):
        sign_in(browser("203.0.113.7"), "olivia", f"guess-{n}")
    staff = UserFactory(username="sam", is_staff=True)
    console = Client(enforce_csrf_checks=True)
    console.force_login(staff)

    page = console.get("/dashboard/access/")
    assert "locked" in page.content.decode() and "Unlock olivia" in page.content.decode()
    unlocked = console.post("/dashboard/access/unlock/", {
        "username": "olivia", "ip_address": "203.0.113.7", "csrfmiddlewaretoken": console.cookies["csrftoken"].value,
    }, follow=True)  # fmt: skip

    assert "Unlocked olivia from 203.0.113.7" in unlocked.content.decode()
    assert sign_in(browser("198.51.100.2"), "olivia", PASSWORD).status_code == 302
    unlock = AccessEvent.objects.get(kind="login.unlock")
    assert (unlock.username, unlock.actor, unlock.ip_address) == ("olivia", "sam", "203.0.113.7")


def test_only_staff_see_the_access_page_or_unlock(person, no_slowdown):
    client = browser()
    sign_in(client, "olivia", PASSWORD)

    assert client.get("/dashboard/access/").status_code == 404
    token = client.cookies["csrftoken"].value
    refused = client.post("/dashboard/access/unlock/", {"username": "olivia", "csrfmiddlewaretoken": token})
    assert refused.status_code == 404 and not AccessEvent.objects.filter(kind="login.unlock").exists()


def test_the_admin_signs_in_through_the_console_form(person, no_slowdown):
    page = browser().get("/admin/tenants/tenant/", follow=True)

    assert page.redirect_chain[-1] == (f"{LOGIN}?next=/admin/tenants/tenant/", 302)
    assert page.status_code == 200 and b"Log in" in page.content
