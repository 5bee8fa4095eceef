"""The console's security in Chromium: every page works under its Content-Security-Policy (the shared
page fixture fails a test on any violation), a page is never framed, and sign-in locks out after
repeated failures, through the real form."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.contrib.auth.hashers import make_password

from tests.browser.platform import CHROMIUM, PASSWORD, SCREENSHOTS, browser_page
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


# Sign-in slows down after 2 failures (1 s, then 2 s) and locks out at the 4th; staff need a second factor.


@pytest.fixture(scope="module")
def platform_settings() -> dict[str, str]:
    return {"CODEQ_LOGIN_SLOWDOWN_AFTER": "2", "CODEQ_LOGIN_FAILURE_LIMIT": "4", "CODEQ_REQUIRE_2FA": "staff"}


@pytest.fixture
def staff(tenant) -> str:
    return UserFactory(username="sam", is_staff=True, is_superuser=True, password=make_password(PASSWORD)).username


def test_a_page_with_an_inline_script_is_reported_and_blocked(server):
    """The policy is in force: what a page may not run, Chromium refuses and reports (the fixture's check)."""
    with pytest.raises(AssertionError, match="script-src"), browser_page(server) as page:
        page.goto("/dashboard/login/")
        ran = page.evaluate("""() => new Promise((done) => {
                document.addEventListener("securitypolicyviolation", () => done(window.injected === true));
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.append(script);
            })""")
        assert ran is False


def test_the_console_cannot_be_framed(server):
    with browser_page(server) as page:
        page.goto("/dashboard/login/")
        response = page.request.get("/dashboard/login/")
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self' 'nonce-" in policy
        assert "http" not in policy  # no other origin is named


def test_staff_set_up_a_second_factor_then_use_their_pages_the_admin_and_the_api_docs(server, staff):
    from playwright.sync_api import expect

    with browser_page(server) as page:
        page.goto("/admin/")
        page.get_by_label("Username").fill(staff)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Set up a second factor")).to_be_visible()
        expect(page.locator(".qr svg")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "2fa-setup.png", full_page=True)
        app = pyotp.TOTP(page.locator("[data-secret]").inner_text())
        page.get_by_label("Code the app shows").fill(app.now())
        page.get_by_role("button", name="Turn on").click()
        expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
        page.screenshot(path=SCREENSHOTS / "2fa-recovery-codes.png", full_page=True)
        page.get_by_role("link", name="I have saved them, continue").click()

        expect(page.locator("#tenants-accessevent").get_by_role("link", name="Access events")).to_be_visible()
        page.goto("/admin/tenants/tenant/add/")
        expect(page.get_by_label("Slug")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "admin-tenant-add.png", full_page=True)
        page.goto("/admin/tenants/accessevent/")
        expect(page.locator("#result_list").get_by_text("second factor set up", exact=True)).to_be_visible()

        page.goto("/dashboard/access/")
        expect(page.get_by_role("heading", name="Access log")).to_be_visible()
        expect(page.get_by_role("cell", name="2fa.enrolled second factor set up")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "access-log.png", full_page=True)
        page.goto("/dashboard/account/")
        expect(page.get_by_text("10 recovery codes left")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "account.png", full_page=True)

        page.goto("/v1/codeq/docs")
        expect(page.get_by_text("codeQ Platform API").first).to_be_visible()
        expect(page.locator(".opblock").first).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "api-docs.png", full_page=True)


def test_repeated_failures_slow_then_lock_the_form_even_for_the_right_password(server, operator):
    from playwright.sync_api import expect

    def try_password(password: str) -> str:
        """Send the form, again while it asks to wait (such a try is not counted); the alert shown."""
        deadline = time.monotonic() + 30
        while True:
            page.get_by_label("Username").fill(operator)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
            alert = page.get_by_role("alert").inner_text()
            if "before the next try" not in alert:
                return alert
            assert time.monotonic() < deadline, "the form kept asking to wait"

    with browser_page(server) as page:
        page.goto("/dashboard/login/")
        for guess in ("guess-1", "guess-2", "guess-3"):
            assert "did not match" in try_password(guess)
        page.get_by_label("Username").fill(operator)
        page.get_by_label("Password").fill("guess-4")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text(re.compile(r"wait [12] seconds? before the next try"))
        page.screenshot(path=SCREENSHOTS / "login-slowed.png")

        assert "signing in is locked" in try_password("guess-4")
        assert "even with the right password" in try_password(PASSWORD)
        page.screenshot(path=SCREENSHOTS / "login-locked.png")
        assert page.url.endswith("/dashboard/login/")
