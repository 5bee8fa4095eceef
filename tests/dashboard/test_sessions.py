"""Sessions: an idle timeout, and signing out everywhere (by the user, by staff, after a password change or
the removal of the last membership), which ends every session of the user and closes their live sockets
at once."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from codeq_platform.asgi import application
from tenants import members, services
from tenants.models import AccessEvent, Membership
from tests.factories import MembershipFactory, UserFactory

PASSWORD = "pw-for-session-tests"
ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def leave(tenant, person) -> None:
    """An admin removes ``person`` from ``tenant``."""
    membership = Membership.objects.get(tenant=tenant, user=person)
    members.remove(tenant=tenant, membership_id=membership.pk, actor="ada")


@pytest.fixture
def person(tenant):
    user = UserFactory(username="olivia", password=make_password(PASSWORD))
    MembershipFactory(tenant=tenant, user=user, role="operator")
    return user


def signed_in_browser(username: str = "olivia") -> Client:
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT="Browser/1.0")
    client.get("/dashboard/login/")
    answer = client.post("/dashboard/login/", {"username": username, "password": PASSWORD,
                                               "csrfmiddlewaretoken": client.cookies["csrftoken"].value})  # fmt: skip
    assert answer.status_code == 302
    return client


def post(client: Client, url: str, data: dict | None = None):
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def is_signed_in(client: Client) -> bool:
    return client.get("/dashboard/t/acme/").status_code == 200


@pytest.mark.django_db
def test_signing_out_everywhere_ends_the_users_other_sessions_too(person):
    laptop, phone = signed_in_browser(), signed_in_browser()

    answer = post(laptop, "/dashboard/account/sign-out-everywhere/")

    assert answer.status_code == 302 and answer["Location"] == "/dashboard/login/"
    assert not is_signed_in(phone) and not is_signed_in(laptop)
    event = AccessEvent.objects.get(kind="logout.everywhere")
    assert (event.username, event.actor, event.detail) == ("olivia", "", {"reason": "by the user"})
    assert is_signed_in(signed_in_browser())  # signing in again works


@pytest.mark.django_db
def test_the_account_page_offers_it_and_tells_the_idle_timeout(person):
    page = signed_in_browser().get("/dashboard/account/").content.decode()

    assert "Sign out everywhere" in page and "after 60 minutes without a request" in page


@pytest.mark.django_db
def test_staff_sign_a_user_out_everywhere(person):
    phone = signed_in_browser()
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(UserFactory(username="sam", is_staff=True))
    staff.get("/dashboard/access/")

    done = staff.post("/dashboard/access/sign-out/", {"username": "olivia",
                                                      "csrfmiddlewaretoken": staff.cookies["csrftoken"].value},
                      follow=True)  # fmt: skip

    assert "Signed olivia out everywhere" in done.content.decode()
    assert not is_signed_in(phone)
    assert AccessEvent.objects.get(kind="logout.everywhere").actor == "sam"


@pytest.mark.django_db
def test_a_user_who_is_not_staff_cannot_sign_others_out(person):
    other = UserFactory(username="mallory", password=make_password(PASSWORD))
    MembershipFactory(tenant=person.memberships.first().tenant, user=other)
    phone = signed_in_browser()

    refused = post(signed_in_browser("mallory"), "/dashboard/access/sign-out/", {"username": "olivia"})

    assert refused.status_code == 404 and is_signed_in(phone)


@pytest.mark.django_db
def test_a_password_change_and_the_last_membership_removal_sign_out_everywhere(person, tenant, foreign_tenant):
    phone = signed_in_browser()
    person.set_password("a-new-password")
    person.save()
    assert not is_signed_in(phone)

    MembershipFactory(tenant=foreign_tenant, user=person)
    person.set_password(PASSWORD)
    person.save()
    laptop = signed_in_browser()
    leave(foreign_tenant, person)
    assert is_signed_in(laptop)  # still a member of acme
    leave(tenant, person)
    assert laptop.get("/dashboard/").status_code == 302

    reasons = [e.detail["reason"] for e in AccessEvent.objects.filter(kind="logout.everywhere").order_by("id")]
    assert reasons == ["password changed", "password changed", "last membership removed"]


@pytest.mark.django_db
def test_a_session_ends_after_the_idle_time_and_requests_start_it_again(person, settings):
    settings.SESSION_COOKIE_AGE = 10  # renewed by a request at most once a second
    browser = signed_in_browser()
    first_expiry = Session.objects.get().expire_date
    deadline = time.monotonic() + 30
    while Session.objects.get().expire_date <= first_expiry:
        assert browser.get("/dashboard/t/acme/").status_code == 200
        assert time.monotonic() < deadline, "requests did not renew the session"

    while Session.objects.filter(expire_date__gt=timezone.now()).exists():  # no request meanwhile
        assert time.monotonic() < deadline + 30, "the session did not expire"
        time.sleep(0.2)
    assert browser.get("/dashboard/t/acme/")["Location"].startswith("/dashboard/login/")


async def _socket(client: Client) -> WebsocketCommunicator:
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    communicator = WebsocketCommunicator(application, "/dashboard/ws/t/acme/stats/", headers=[cookie, ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["sign out everywhere", "password change", "last membership removed"])
async def test_the_live_sockets_close_at_once(person, tenant, queues, how):
    socket = await _socket(await database_sync_to_async(signed_in_browser)())

    if how == "sign out everywhere":
        await database_sync_to_async(services.sign_out_everywhere)(user=person, actor="sam")
    elif how == "password change":
        await database_sync_to_async(person.set_password)("a-new-password")
        await database_sync_to_async(person.save)()
    else:
        await database_sync_to_async(leave)(tenant, person)

    # well within the 10 s between the socket's own checks of its access
    assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"
    await socket.disconnect()
