"""The access log on the staff's access page: every user's sign-ins, failures, lockouts, second-factor
changes and sign-outs, with address and browser, filtered by user, event and address."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import AccessEvent
from tenants.services import Client as Origin
from tenants.services import record_access
from tests.dashboard.forms import login_as
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(username="sam", is_staff=True))
    AccessEvent.objects.all().delete()  # the staff member's own sign-in
    return client


@pytest.fixture
def events():
    firefox, curl = Origin("203.0.113.7", "Firefox/140"), Origin("198.51.100.2", "curl/8")
    record_access(kind="login.failed", username="olivia", client=curl, detail={"failures": 1})
    record_access(kind="login.lockout", username="olivia", client=curl, detail={"failures": 10})
    record_access(kind="login", username="olivia", client=firefox)
    record_access(kind="2fa.enrolled", username="olivia", client=firefox)
    record_access(kind="logout", username="ada", client=firefox)


def rows(page) -> list[tuple[str, str, str]]:
    return [(e.username, e.kind, e.ip_address) for e in page.context["page"].object_list]


def test_staff_read_every_users_events_newest_first_with_address_and_browser(staff, events):
    page = staff.get("/dashboard/access/")

    assert rows(page)[0] == ("ada", "logout", "203.0.113.7") and len(rows(page)) == 5
    text = page.content.decode()
    assert "locked out" in text and "curl/8" in text and "second factor set up" in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"username": "olivia", "kind": "login.lockout"}, [("olivia", "login.lockout", "198.51.100.2")]),
        ({"ip_address": "198.51.100.2"}, [("olivia", "login.lockout", "198.51.100.2"),
                                          ("olivia", "login.failed", "198.51.100.2")]),
        ({"kind": "2fa.enrolled"}, [("olivia", "2fa.enrolled", "203.0.113.7")]),
        ({"username": "ada", "kind": "login"}, []),
    ],
)  # fmt: skip
def test_staff_filter_by_user_event_and_address(staff, events, query, expected):
    assert rows(staff.get("/dashboard/access/", query)) == expected


def test_an_address_filter_that_is_no_address_is_ignored(staff, events):
    page = staff.get("/dashboard/access/", {"ip_address": "not-an-address", "username": "ada"})

    assert page.status_code == 200 and rows(page) == [("ada", "logout", "203.0.113.7")]


def test_members_who_are_not_staff_do_not_see_it(tenant, events):
    assert login_as(tenant, "admin").get("/dashboard/access/").status_code == 404
