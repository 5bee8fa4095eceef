"""The members page in Debian's Chromium: an admin invites by email, the invitee accepts in another
browser, the admin changes roles and revokes an invitation; the last admin stays an admin."""

from __future__ import annotations

import pytest

from tests.browser.platform import CHROMIUM, browser_pages, log_in, mailed_link, screenshots

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (.ci/run installs it)"
    ),
    pytest.mark.django_db(transaction=True),
]


def test_an_admin_invites_and_the_invitee_joins_in_another_browser(server, admin, mail_dir):
    with browser_pages(server) as new_page:
        page = new_page()
        log_in(page, admin)
        page.get_by_role("link", name="Members").click()
        page.get_by_label("Email address").fill("bob@example.com")
        page.get_by_label("Role", exact=True).select_option("operator")
        page.get_by_role("button", name="Send invitation").click()
        assert "Invited bob@example.com as operator" in page.inner_text("main")
        page.get_by_label("Email address").fill("mallory@example.com")
        page.get_by_role("button", name="Send invitation").click()
        assert page.get_by_test_id("invitations").locator("tbody tr").count() == 2
        screenshots(page, "members-invited")

        invitee = new_page()
        invitee.goto(mailed_link(mail_dir, "bob@example.com"))
        assert "invited bob@example.com to the tenant acme as operator" in invitee.inner_text("main")
        screenshots(invitee, "invitation")
        invitee.get_by_label("Username").fill("bob")
        invitee.get_by_label("Password", exact=True).fill("correct-horse-battery-staple")
        invitee.get_by_label("Password confirmation").fill("correct-horse-battery-staple")
        invitee.get_by_role("button", name="Create account and join").click()
        invitee.wait_for_url("**/dashboard/t/acme/")
        assert "you are operator here" in invitee.inner_text("main")
        assert invitee.locator(".who .role").text_content() == "operator"

        page.reload()
        rows = page.get_by_test_id("members").locator("tbody tr")
        assert rows.count() == 2
        page.get_by_label("Role of bob").select_option("viewer")
        page.get_by_test_id("members").locator("tr", has_text="bob").get_by_role("button", name="Change role").click()
        assert "bob is now viewer." in page.inner_text("main")

        page.get_by_label(f"Role of {admin}").select_option("operator")
        page.get_by_test_id("members").locator("tr", has_text=admin).get_by_role("button", name="Change role").click()
        assert f"{admin} is the last admin of acme and cannot be demoted" in page.inner_text("main")

        page.get_by_role("button", name="Revoke the invitation of mallory@example.com").click()
        assert "Revoked the invitation of mallory@example.com." in page.inner_text("main")
        assert "No pending invitations." in page.inner_text("main")
        screenshots(page, "members")

        invitee.reload()
        assert invitee.locator(".who .role").text_content() == "viewer"
        stranger = new_page()
        stranger.goto(mailed_link(mail_dir, "mallory@example.com"))
        assert "This invitation was revoked." in stranger.inner_text("main")
