"""Sign-up in Debian's Chromium with CODEQ_SIGNUP=open: the form, the emailed link, the new tenant."""

from __future__ import annotations

import pytest

from tests.browser.platform import CHROMIUM, browser_page, mailed_link, screenshots

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(scope="module")
def platform_settings() -> dict[str, str]:
    return {"CODEQ_SIGNUP": "open"}


def test_a_visitor_signs_up_and_lands_in_their_new_tenant(server, mail_dir):
    with browser_page(server) as page:
        page.goto("/dashboard/login/")
        page.get_by_role("link", name="Create an account and a tenant").click()
        page.get_by_label("Username").fill("nora")
        page.get_by_label("Email address").fill("nora@example.com")
        page.get_by_label("Password", exact=True).fill("correct-horse-battery-staple")
        page.get_by_label("Password confirmation").fill("correct-horse-battery-staple")
        page.get_by_label("Tenant slug").fill("Initech")
        page.get_by_label("Tenant name").fill("Initech")
        page.get_by_role("button", name="Sign up").click()
        assert "A slug is 1-63 characters" in page.inner_text("main")
        page.get_by_label("Password", exact=True).fill("correct-horse-battery-staple")
        page.get_by_label("Password confirmation").fill("correct-horse-battery-staple")
        page.get_by_label("Tenant slug").fill("initech")
        screenshots(page, "signup")
        page.get_by_role("button", name="Sign up").click()
        assert "We sent a link to nora@example.com." in page.inner_text("main")

        page.goto(mailed_link(mail_dir, "nora@example.com", "/dashboard/signup/confirm/"))
        screenshots(page, "signup-confirm")
        page.get_by_role("button", name="Create my account and tenant").click()
        page.wait_for_url("**/dashboard/t/initech/")
        assert "Your tenant initech is ready; you are its admin." in page.inner_text("main")
        assert page.locator(".who .role").text_content() == "admin"
