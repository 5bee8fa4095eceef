"""A second factor: required of staff when CODEQ_REQUIRE_2FA=staff, optional for everyone else; an
authenticator app's codes (computed here with pyotp, as the app would) and single-use recovery codes
shown once."""

from __future__ import annotations

import re
import time
from base64 import b32encode

import pyotp
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import make_password
from django.test import Client

from codeq_platform.asgi import application
from tenants import second_factor
from tenants.models import AccessEvent
from tenants.services import Client as Origin
from tests.factories import MembershipFactory, UserFactory

PASSWORD = "pw-for-2fa-tests"
SETUP = "/dashboard/account/2fa/setup/"
VERIFY = "/dashboard/2fa/"


@pytest.fixture
def require_staff(settings):
    settings.CODEQ_REQUIRE_2FA = "staff"


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True, is_superuser=True, password=make_password(PASSWORD))


@pytest.fixture
def operator(tenant):
    user = UserFactory(username="olivia", password=make_password(PASSWORD))
    MembershipFactory(tenant=tenant, user=user, role="operator")
    return user


def password_step(username: str, next_url: str = "") -> Client:
    """Sign in with the password through the form."""
    client = Client(enforce_csrf_checks=True, HTTP_USER_AGENT="Browser/2.0")
    client.get("/dashboard/login/")
    answer = client.post("/dashboard/login/", {"username": username, "password": PASSWORD, "next": next_url,
                                               "csrfmiddlewaretoken": client.cookies["csrftoken"].value})  # fmt: skip
    assert answer.status_code == 302
    return client


def post(client: Client, url: str, data: dict):
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def post_once_allowed(client: Client, url: str, data: dict):
    """POST a code, again while the page says to wait after a wrong one (such a try is not checked)."""
    deadline = time.monotonic() + 30
    while "Too many wrong codes" in (answer := post(client, url, data)).content.decode():
        assert time.monotonic() < deadline, "the form kept asking to wait"
    return answer


def enrolled(user) -> pyotp.TOTP:
    """Set up an authenticator for ``user`` as the setup page would; the app's view of it."""
    device = second_factor.pending_authenticator(user)
    app = pyotp.TOTP(b32encode(device.bin_key).decode())
    assert second_factor.confirm_authenticator(user=user, code=app.now(), client=Origin()) is not None
    return app


def next_code(app: pyotp.TOTP) -> str:
    """The app's code of the next 30-second step: a code already used is refused, the next one is not."""
    return app.at(time.time() + 30)


def test_staff_must_set_up_an_authenticator_before_anything_else(require_staff, staff, tenant):
    client = password_step("sam")
    for page in ("/dashboard/t/acme/", "/admin/", "/dashboard/access/"):
        answer = client.get(page)
        assert answer.status_code == 302 and answer["Location"].startswith(f"{SETUP}?next=")

    setup = client.get(SETUP).content.decode()
    assert "needs a second factor" in setup and "<svg" in setup
    app = pyotp.TOTP(re.search(r"data-secret>([A-Z2-7]+)<", setup).group(1))
    wrong = post(client, SETUP, {"code": "000000" if app.now() != "000000" else "111111", "next": "/admin/"})
    assert "not the one the app shows" in wrong.content.decode()
    assert "Too many wrong codes: try again in 1 second" in post(client, SETUP, {"code": app.now()}).content.decode()

    shown = post_once_allowed(client, SETUP, {"code": app.now(), "next": "/admin/"})

    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", shown.content.decode())
    assert len(codes) == 10 and "shown only once" in shown.content.decode()
    assert client.get("/admin/").status_code == 200 and client.get("/dashboard/t/acme/").status_code == 200
    kinds = set(AccessEvent.objects.filter(username="sam").values_list("kind", flat=True))
    assert {"login", "2fa.failed", "2fa.enrolled", "2fa.recovery-codes"} <= kinds
    assert not any(code in client.get("/dashboard/account/").content.decode() for code in codes)


def test_signing_in_asks_for_a_code_once_set_up(require_staff, staff, tenant):
    app = enrolled(staff)
    client = password_step("sam", next_url="/admin/tenants/tenant/")
    answer = client.get("/admin/tenants/tenant/")
    assert answer["Location"] == f"{VERIFY}?next=%2Fadmin%2Ftenants%2Ftenant%2F"

    refused = post(client, VERIFY, {"code": "12345", "next": "/admin/tenants/tenant/"})
    assert "not valid" in refused.content.decode() and client.get("/admin/").status_code == 302

    passed = post_once_allowed(client, VERIFY, {"code": next_code(app), "next": "/admin/tenants/tenant/"})

    assert passed["Location"] == "/admin/tenants/tenant/" and client.get("/admin/tenants/tenant/").status_code == 200
    verified = AccessEvent.objects.get(kind="2fa.verified")
    assert verified.detail == {"with": "authenticator"} and verified.user_agent == "Browser/2.0"
    assert AccessEvent.objects.filter(kind="2fa.failed", username="sam").exists()


def test_a_recovery_code_signs_in_once(require_staff, staff, tenant):
    enrolled(staff)
    code = second_factor.new_recovery_codes(user=staff, client=Origin())[0]

    first = password_step("sam")
    assert post(first, VERIFY, {"code": code.upper(), "next": "/admin/"})["Location"] == "/admin/"
    assert "9 left" in first.get("/dashboard/account/").content.decode()
    again = password_step("sam")
    assert "not valid" in post_once_allowed(again, VERIFY, {"code": code, "next": "/admin/"}).content.decode()
    assert AccessEvent.objects.get(kind="2fa.verified").detail == {"with": "recovery code", "left": 9}


def test_others_may_use_the_console_without_and_opt_in(require_staff, operator):
    client = password_step("olivia")
    assert client.get("/dashboard/t/acme/").status_code == 200
    setup = client.get(SETUP).content.decode()
    app = pyotp.TOTP(re.search(r"data-secret>([A-Z2-7]+)<", setup).group(1))
    assert "needs a second factor" not in setup
    post(client, SETUP, {"code": app.now(), "next": "/dashboard/account/"})
    assert "Signing in asks for a code" in client.get("/dashboard/account/").content.decode()

    later = password_step("olivia")
    assert later.get("/dashboard/t/acme/")["Location"].startswith(VERIFY)
    post(later, VERIFY, {"code": next_code(app), "next": "/dashboard/"})
    turned_off = post(later, "/dashboard/account/2fa/remove/", {})

    assert turned_off["Location"] == "/dashboard/account/" and not second_factor.is_enrolled(operator)
    assert password_step("olivia").get("/dashboard/t/acme/").status_code == 200
    assert AccessEvent.objects.filter(kind="2fa.removed", username="olivia").count() == 1


def test_staff_cannot_turn_a_required_second_factor_off(require_staff, staff):
    app = enrolled(staff)
    client = password_step("sam")
    post(client, VERIFY, {"code": next_code(app), "next": "/dashboard/"})

    answer = post(client, "/dashboard/account/2fa/remove/", {})

    assert answer.status_code == 302 and second_factor.is_enrolled(staff)
    assert "Turn off" not in client.get("/dashboard/account/").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_session_that_owes_a_code_gets_no_live_socket(settings, tenant, queues):
    settings.CODEQ_REQUIRE_2FA = "staff"
    staff = await database_sync_to_async(UserFactory)(username="sam", is_staff=True,
                                                      password=make_password(PASSWORD))  # fmt: skip
    await database_sync_to_async(enrolled)(staff)
    client = await database_sync_to_async(password_step)("sam")
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    socket = WebsocketCommunicator(application, "/dashboard/ws/t/acme/stats/",
                                   headers=[cookie, (b"origin", b"http://127.0.0.1:8000")])  # fmt: skip

    connected, _ = await socket.connect(timeout=5)

    assert not connected
